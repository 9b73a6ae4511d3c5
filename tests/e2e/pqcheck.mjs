// tests/e2e/pqcheck.mjs FORMAT FILE - reads FILE with independent readers
// and prints what they saw as one JSON document, for reccheck.py to
// compare with what the input says:
//   parquet: DuckDB read_parquet() and hyparquet, plus the file's metadata
//            as DuckDB's parquet_metadata() sees it;
//   csv:     DuckDB read_csv(header=true, all_varchar=true);
//   jsonl:   DuckDB read_json_objects() (each line as JSON text) and
//            read_json(format='newline_delimited') for its types;
//   sql:     pqcheck.mjs sql FILE QUERY: QUERY's rows, FILE as table t
//            (a Parquet file), every value cast to text.
// Cells are tagged: ["I","123"] int64 (exact, as text), ["D",1.5] double,
// ["B",true], ["S","text"], ["T","µs since the epoch"], null.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';

const [format, file] = process.argv.slice(2);
const db = await (await DuckDBInstance.create(':memory:')).connect();
const q = (sql) => db.runAndReadAll(sql);
// parquet, json and csv are built into the npm package: never download
await q('SET autoinstall_known_extensions = false');
const lit = `'${file.replaceAll("'", "''")}'`;

// One DuckDB relation: its columns and types, and its rows tagged.
async function duck(rel) {
  const cols = (await q(`DESCRIBE SELECT * FROM ${rel}`)).getRowObjectsJson()
    .map((c) => [c.column_name, c.column_type]);
  const expr = cols.map(([n, t]) => {
    const c = `"${n.replaceAll('"', '""')}"`;
    if (t === 'BIGINT' || t.startsWith('TIMESTAMP WITH')) {
      return t === 'BIGINT' ? `CAST(${c} AS VARCHAR)` : `CAST(epoch_us(${c}) AS VARCHAR)`;
    }
    return ['DOUBLE', 'BOOLEAN', 'VARCHAR'].includes(t) ? c : `CAST(${c} AS VARCHAR)`;
  });
  const tag = { BIGINT: 'I', DOUBLE: 'D', BOOLEAN: 'B', VARCHAR: 'S' };
  const rows = cols.length === 0 ? [] : (await q(`SELECT ${expr.join(', ')} FROM ${rel}`)).getRows()
    .map((r) => r.map((v, i) => {
      if (v === null) return null;
      const t = cols[i][1].startsWith('TIMESTAMP WITH') ? 'T' : tag[cols[i][1]] || `?${cols[i][1]}`;
      return [t, typeof v === 'bigint' ? String(v) : v];
    }));
  return { columns: cols, rows };
}

function hypTag(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return ['I', String(v)];
  if (typeof v === 'number') return ['D', v];
  if (typeof v === 'boolean') return ['B', v];
  if (typeof v === 'string') return ['S', v];
  if (v && typeof v.us === 'bigint') return ['T', String(v.us)];
  return ['?', String(v)];
}

// hyparquet decodes only SNAPPY itself: gzip pages go through node's zlib,
// zstd pages through the zstd command (node 20 has no zstd)
const compressors = {
  GZIP: (b) => new Uint8Array(zlib.gunzipSync(b)),
  ZSTD: (b) => new Uint8Array(execFileSync('zstd', ['-dcq'], { input: b })),
};

async function hyparquet() {
  const b = fs.readFileSync(file);
  const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  const meta = parquetMetadata(ab);
  const names = meta.schema.slice(1).map((e) => e.name);
  const exact = await parquetReadObjects({
    file: ab, compressors, parsers: { timestampFromMicroseconds: (us) => ({ us: BigInt(us) }) },
  });
  // with the default parsers, timestamps are Dates: they must be the same
  // instants to the millisecond
  const dates = await parquetReadObjects({ file: ab, compressors });
  let dateOk = true;
  exact.forEach((row, i) => names.forEach((n) => {
    const v = row[n];
    if (v && typeof v.us === 'bigint') {
      const d = dates[i][n];
      const ms = v.us >= 0n ? v.us / 1000n : (v.us - 999n) / 1000n;
      if (!(d instanceof Date) || BigInt(d.getTime()) !== ms) dateOk = false;
    }
  }));
  return {
    columns: meta.schema.slice(1).map((e) => [e.name, e.type, e.converted_type ?? null,
      e.logical_type ? JSON.stringify(e.logical_type) : null, e.repetition_type]),
    num_rows: Number(meta.num_rows),
    row_groups: meta.row_groups.length,
    created_by: meta.created_by,
    rows: exact.map((row) => names.map((n) => hypTag(row[n]))),
    date_ok: dateOk,
  };
}

async function duckMeta() {
  const m = (await q(`SELECT row_group_id, path_in_schema, compression, encodings,
      dictionary_page_offset IS NOT NULL AS dict, stats_min_value, stats_max_value, type
      FROM parquet_metadata(${lit})`)).getRowObjectsJson();
  return {
    row_groups: new Set(m.map((r) => r.row_group_id)).size,
    codecs: [...new Set(m.map((r) => r.compression))],
    dict_columns: [...new Set(m.filter((r) => r.dict).map((r) => r.path_in_schema))],
    // every INT64 / DOUBLE chunk with a value has its min and max
    stats: m.every((r) => !['INT64', 'DOUBLE'].includes(r.type) || r.stats_min_value !== null),
  };
}

const out = {};
if (format === 'sql') {
  await q(`CREATE VIEW t AS SELECT * FROM read_parquet(${lit})`);
  out.rows = (await q(process.argv[4])).getRows().map((r) => r.map((v) => (v === null ? null : String(v))));
} else if (format === 'parquet') {
  out.duckdb = await duck(`read_parquet(${lit})`);
  out.meta = await duckMeta();
  out.hyparquet = await hyparquet();
} else if (format === 'csv') {
  out.duckdb = await duck(`read_csv(${lit}, header=true, all_varchar=true)`);
} else {
  out.objects = (await q(`SELECT json FROM read_json_objects(${lit}, format='newline_delimited')`))
    .getRows().map((r) => String(r[0]));
  out.duckdb = await duck(`read_json(${lit}, format='newline_delimited')`);
}
console.log(JSON.stringify(out));
