// tests/e2e/receiver.js - a loopback HTTP receiver for the http sink's tests.
//
// Records every request: its body goes to DIR/bodies/NNNNNN (raw bytes) and
// one JSON line to DIR/index.jsonl, written before the answer is sent:
//   {"n":1,"t":<ms since epoch>,"method":"POST","url":"/x","headers":{...},
//    "status":200,"body":"bodies/000001","len":123}
// Answers 200 {"ok":true}, unless told to fail.  Plain node, no npm deps.
//
//   node receiver.js PORT DIR
//   FAIL=MODE:COUNT[:AFTER] in the environment, or at run time
//   POST /_ctl?mode=MODE&count=N[&after=K]  (not recorded; mode=ok resets)
// answers the next N requests (after K more succeed) with MODE:
//   500          500 "injected failure"
//   429          429 with Retry-After: 2 (&retry_after=S to change it)
//   400          400 "bad request: field 'x' is invalid"
//   redirect     302 to /elsewhere on this server
// Prints "listening PORT" once ready.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');

const [port, dir] = process.argv.slice(2);
if (!port || !dir) {
  console.error('usage: node receiver.js PORT DIR');
  process.exit(64);
}
fs.mkdirSync(path.join(dir, 'bodies'), { recursive: true });
const index = path.join(dir, 'index.jsonl');
// numbering goes on after a restart, so no recorded body is overwritten
let n = fs.existsSync(index) ? fs.readFileSync(index, 'utf8').split('\n').filter(Boolean).length : 0;
let fail = { mode: 'ok', count: 0, after: 0, retryAfter: 2 };

function setFail(mode, count, after, retryAfter) {
  fail = { mode, count: Number(count || 0), after: Number(after || 0), retryAfter: Number(retryAfter || 2) };
}
if (process.env.FAIL) setFail(...process.env.FAIL.split(':'));

function answer(res) {
  if (fail.count > 0 && fail.after === 0) {
    fail.count--;
    switch (fail.mode) {
    case '500':
      return [500, {}, 'injected failure'];
    case '429':
      return [429, { 'Retry-After': String(fail.retryAfter) }, 'slow down'];
    case '202':
      return [202, {}, 'accepted, but a callback wants 200'];
    case '400':
      return [400, {}, "bad request: field 'x' is invalid"];
    case 'redirect':
      return [302, { Location: `http://127.0.0.1:${port}/elsewhere` }, 'moved'];
    }
  }
  if (fail.count > 0 && fail.after > 0) fail.after--;
  return [200, { 'Content-Type': 'application/json' }, '{"ok":true}'];
}

http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/_ctl') {
      const q = url.searchParams;
      setFail(q.get('mode') || 'ok', q.get('count'), q.get('after'), q.get('retry_after'));
      res.writeHead(200);
      return res.end(JSON.stringify(fail) + '\n');
    }
    const body = Buffer.concat(chunks);
    const [status, headers, text] = answer(res);
    const name = `bodies/${String(++n).padStart(6, '0')}`;
    fs.writeFileSync(path.join(dir, name), body);
    fs.appendFileSync(index, JSON.stringify({
      n, t: Date.now(), method: req.method, url: req.url, headers: req.headers,
      status, body: name, len: body.length,
    }) + '\n');
    res.writeHead(status, headers);
    res.end(text);
  });
}).listen(Number(port), '127.0.0.1', () => console.log(`listening ${port}`));

process.on('SIGTERM', () => process.exit(0));
