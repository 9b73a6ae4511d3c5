// tests/e2e/duckq.mjs SQL... - runs each query in DuckDB (the npm package's
// own binary, no extension downloads) and prints its rows as one JSON array
// a line, 64-bit integers as strings.  With --hyparquet FILE: the rows of a
// Parquet file as hyparquet reads them, timestamps as ISO text.
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetReadObjects } from 'hyparquet';
import fs from 'node:fs';

const args = process.argv.slice(2);
const show = (rows) => console.log(JSON.stringify(rows, (k, v) =>
  typeof v === 'bigint' ? String(v) : v instanceof Date ? v.toISOString() : v));
if (args[0] === '--hyparquet') {
  const b = fs.readFileSync(args[1]);
  const file = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  show(await parquetReadObjects({ file }));
} else {
  const db = await (await DuckDBInstance.create(':memory:')).connect();
  await db.runAndReadAll('SET autoinstall_known_extensions = false');
  for (const sql of args) show((await db.runAndReadAll(sql)).getRowObjects());
}
