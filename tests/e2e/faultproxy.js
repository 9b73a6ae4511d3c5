// tests/e2e/faultproxy.js - an HTTP proxy that breaks on command, for the
// fault suite.  It forwards every request to 127.0.0.1:UPSTREAM, except as
// the current mode says:
//
//   pass      forward
//   refuse    stop listening: new connections are refused
//   error     answer RATE of the requests with 500 or 503 (not forwarded)
//   reset     read a little of the request, then reset the connection
//   stall     send the response headers, then nothing
//   trickle   forward, but send the answer back at 1 byte a second
//
// The mode is set with "GET /mode?m=NAME&rate=0.3" on CONTROL_PORT, which
// always answers.  Every request is logged to stdout as "MODE METHOD PATH
// OUTCOME".
//
//   node faultproxy.js LISTEN_PORT CONTROL_PORT UPSTREAM_PORT
'use strict';
const http = require('http');

const [listenPort, controlPort, upstreamPort] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true });
const sockets = new Set();
let mode = 'pass';
let rate = 1;
let listening = false;

function log(req, what) {
  process.stdout.write(`${mode} ${req.method} ${req.url} ${what}\n`);
}

function forward(req, res, slow) {
  const up = http.request({
    host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url,
    headers: req.headers, agent,
  }, (ur) => {
    res.writeHead(ur.statusCode, ur.headers);
    if (!slow) {
      ur.pipe(res);
      ur.on('end', () => log(req, `forwarded ${ur.statusCode}`));
      return;
    }
    const chunks = [];
    ur.on('data', (c) => chunks.push(c));
    ur.on('end', () => {
      const body = Buffer.concat(chunks);
      let i = 0;
      const tick = setInterval(() => {
        if (i >= body.length || res.destroyed) {
          clearInterval(tick);
          res.end();
          log(req, `trickled ${i} bytes`);
          return;
        }
        res.write(body.subarray(i, i + 1));
        i++;
      }, 1000);
    });
  });
  up.on('error', (e) => {
    log(req, `upstream ${e.code}`);
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(up);
}

function errorBody(status) {
  const code = status === 503 ? 'SlowDown' : 'InternalError';
  return `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code>` +
    `<Message>injected by faultproxy</Message></Error>`;
}

function handle(req, res) {
  if (mode === 'error' && Math.random() < rate) {
    const status = Math.random() < 0.5 ? 500 : 503;
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'application/xml' });
      res.end(errorBody(status));
      log(req, `injected ${status}`);
    });
    return;
  }
  if (mode === 'reset' && Math.random() < rate) {
    let seen = 0;
    const kill = () => { log(req, `reset after ${seen} bytes`); req.socket.resetAndDestroy(); };
    req.on('data', (c) => { seen += c.length; if (seen > 1000) kill(); });
    req.on('end', kill);
    return;
  }
  if (mode === 'stall' && Math.random() < rate) {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-length': '100' });
      res.flushHeaders();
      log(req, 'stalled');
    });
    return;
  }
  forward(req, res, mode === 'trickle' && Math.random() < rate);
}

const server = http.createServer(handle);
server.keepAliveTimeout = 30000;
server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });

function listen() {
  if (listening) return;
  listening = true;
  server.listen(listenPort, '127.0.0.1');
}

function unlisten() {
  if (!listening) return;
  listening = false;
  server.close();
  for (const s of sockets) s.destroy();
}

http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  if (u.pathname !== '/mode') { res.writeHead(404); res.end(); return; }
  mode = u.searchParams.get('m') || 'pass';
  rate = Number(u.searchParams.get('rate') || 1);
  if (mode === 'refuse') unlisten(); else listen();
  process.stdout.write(`mode ${mode} rate ${rate}\n`);
  res.end('ok\n');
}).listen(controlPort, '127.0.0.1', listen);
