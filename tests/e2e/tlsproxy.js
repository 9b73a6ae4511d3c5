// tests/e2e/tlsproxy.js - TLS in front of a plain HTTP server, for the
// tests: terminates https with the given certificate and key and forwards
// each request unchanged (method, path, headers, body; so SigV4 still
// verifies) to 127.0.0.1:UPSTREAM.  Every forwarded request is logged to
// stdout as "METHOD PATH STATUS"; failed handshakes as "tls-error WHY".
//
//   node tlsproxy.js PORT UPSTREAM_PORT CERT.pem KEY.pem
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');

const [port, upstream, cert, key] = process.argv.slice(2);

const server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, (req, res) => {
  const up = http.request({ host: '127.0.0.1', port: Number(upstream), method: req.method,
    path: req.url, headers: req.headers }, (ur) => {
    console.log(`${req.method} ${req.url} ${ur.statusCode}`);
    res.writeHead(ur.statusCode, ur.headers);
    ur.pipe(res);
  });
  up.on('error', (e) => {
    console.log(`${req.method} ${req.url} 502 ${e.code}`);
    res.writeHead(502);
    res.end();
  });
  req.pipe(up);
});
server.on('tlsClientError', (e) => console.log(`tls-error ${e.code || e.message}`));
server.listen(Number(port), '127.0.0.1', () => console.log(`listening ${port}`));
