// tests/e2e/checkserver.js - a strict little S3 for the tests: verifies the
// SigV4 signature (access key S3RVER, secret given on the command line),
// x-amz-content-sha256, Content-MD5 and x-amz-checksum-sha256 of every PUT
// body, and can fail the first N requests with a given status.  PutObject
// and multipart uploads (create, UploadPart, ListParts, Complete); with
// DROP_PART=N in the environment the first ListParts "loses" part N; with
// FLIP_BODY=N the first N PUT bodies arrive with one byte flipped, as if
// corrupted on the way (the digests then catch it: 400 BadDigest); with
// POISON_UPLOAD=1 the first multipart upload can never be completed (500),
// as s3rver does with one damaged by a client killed mid-part.
// Objects live in memory; GET returns them.  Every request is logged to
// stdout as "METHOD PATH STATUS".
//
//   node checkserver.js PORT SECRET|env [FAIL_STATUS FAIL_COUNT]
'use strict';
const http = require('http');
const crypto = require('crypto');

const [port, secretArg, failStatus, failCountArg] = process.argv.slice(2);
// SECRET "env": read it from CHECK_SECRET, so it is not on any command line
const secret = secretArg === 'env' ? process.env.CHECK_SECRET : secretArg;
let failLeft = Number(failCountArg || 0);
const objects = new Map();
const uploads = new Map();	// id -> { key, parts: Map(n -> { body, etag }) }
let dropPart = Number(process.env.DROP_PART || 0);
let flipLeft = Number(process.env.FLIP_BODY || 0);
let poison = process.env.POISON_UPLOAD === '1' ? 'next' : null;

const sha256 = (b) => crypto.createHash('sha256').update(b).digest();
const hmac = (k, s) => crypto.createHmac('sha256', k).update(s).digest();

function expectedAuth(req, url, payloadHash) {
  const auth = req.headers.authorization || '';
  const m = /Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]+)/.exec(auth);
  if (!m) return { ok: false, why: 'no SigV4 Authorization header' };
  const [, key, date, region, service, signed, sig] = m;
  if (key !== 'S3RVER') return { ok: false, why: 'unknown access key' };
  const names = signed.split(';');
  const headers = names.map((n) => `${n}:${String(req.headers[n] || '').trim()}`).join('\n') + '\n';
  const query = [...url.searchParams.entries()].sort()
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  const canonical = [req.method, url.pathname, query, headers, signed, payloadHash].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const sts = ['AWS4-HMAC-SHA256', req.headers['x-amz-date'], scope,
    sha256(canonical).toString('hex')].join('\n');
  let k = hmac('AWS4' + secret, date);
  k = hmac(k, region); k = hmac(k, service); k = hmac(k, 'aws4_request');
  const want = hmac(k, sts).toString('hex');
  return want === sig ? { ok: true } : { ok: false, why: 'SignatureDoesNotMatch' };
}

function reply(res, req, status, code, message) {
  console.log(`${req.method} ${req.url} ${status}${code ? ' ' + code : ''}`);
  res.writeHead(status, { 'Content-Type': 'application/xml' });
  res.end(code ? `<?xml version="1.0"?><Error><Code>${code}</Code><Message>${message}</Message></Error>` : '');
}

http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    if (req.method === 'PUT' && body.length > 0 && flipLeft > 0) {
      flipLeft--;
      body[body.length >> 1] ^= 0x20;
    }
    const url = new URL(req.url, 'http://x');
    if (failLeft > 0) {
      failLeft--;
      return reply(res, req, Number(failStatus), 'ServiceUnavailable', 'injected failure');
    }
    if (req.method === 'GET' && req.headers.authorization === undefined) {
      const o = objects.get(url.pathname);
      if (!o) return reply(res, req, 404, 'NoSuchKey', 'no such key');
      console.log(`GET ${req.url} 200`);
      res.writeHead(200, o.headers);
      return res.end(o.body);
    }
    const hash = sha256(body).toString('hex');
    if (req.headers['x-amz-content-sha256'] !== hash)
      return reply(res, req, 400, 'XAmzContentSHA256Mismatch', 'payload hash mismatch');
    const a = expectedAuth(req, url, hash);
    if (!a.ok) return reply(res, req, 403, 'SignatureDoesNotMatch', a.why);
    const q = url.searchParams;
    if (req.method === 'POST' && q.has('uploads')) {
      const id = crypto.randomBytes(8).toString('hex');
      uploads.set(id, { key: url.pathname, parts: new Map() });
      if (poison === 'next') poison = id;
      console.log(`POST ${req.url} 200`);
      res.writeHead(200);
      return res.end(`<InitiateMultipartUploadResult><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`);
    }
    const up = q.has('uploadId') ? uploads.get(q.get('uploadId')) : null;
    if (q.has('uploadId') && !up) return reply(res, req, 404, 'NoSuchUpload', 'no such upload');
    if (req.method === 'GET' && up) {
      const parts = [...up.parts.entries()].sort((a, b) => a[0] - b[0])
        .filter(([n]) => n !== dropPart);
      dropPart = 0;
      console.log(`GET ${req.url} 200`);
      res.writeHead(200);
      return res.end('<ListPartsResult>' + parts.map(([n, p]) =>
        `<Part><PartNumber>${n}</PartNumber><ETag>&quot;${p.etag}&quot;</ETag><Size>${p.body.length}</Size></Part>`).join('') +
        '</ListPartsResult>');
    }
    if (req.method === 'DELETE' && up) {
      uploads.delete(q.get('uploadId'));
      console.log(`DELETE ${req.url} 204`);
      res.writeHead(204);
      return res.end();
    }
    if (req.method === 'POST' && up && q.get('uploadId') === poison)
      return reply(res, req, 500, 'InternalError', 'this upload is damaged');
    if (req.method === 'POST' && up) {
      const nums = [...body.toString().matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => Number(m[1]));
      if (nums.some((n) => !up.parts.has(n))) return reply(res, req, 400, 'InvalidPart', 'a part is missing');
      objects.set(up.key, { body: Buffer.concat(nums.map((n) => up.parts.get(n).body)), headers: {} });
      uploads.delete(q.get('uploadId'));
      console.log(`POST ${req.url} 200`);
      res.writeHead(200);
      return res.end('<CompleteMultipartUploadResult></CompleteMultipartUploadResult>');
    }
    if (req.method !== 'PUT' || (url.search && !up))
      return reply(res, req, 501, 'NotImplemented', 'not implemented');
    if (req.headers['content-md5'] !== crypto.createHash('md5').update(body).digest('base64'))
      return reply(res, req, 400, 'BadDigest', 'Content-MD5 mismatch');
    if (req.headers['x-amz-checksum-sha256'] !== sha256(body).toString('base64'))
      return reply(res, req, 400, 'BadDigest', 'x-amz-checksum-sha256 mismatch');
    const etag = crypto.createHash('md5').update(body).digest('hex');
    if (up) {
      up.parts.set(Number(q.get('partNumber')), { body, etag });
    } else {
      const headers = {};
      for (const [k, v] of Object.entries(req.headers)) if (k.startsWith('x-amz-meta-')) headers[k] = v;
      objects.set(url.pathname, { body, headers });
    }
    console.log(`PUT ${req.url} 200`);
    res.writeHead(200, { ETag: `"${etag}"` });
    res.end();
  });
}).listen(Number(port), '127.0.0.1', () => console.log(`listening ${port}`));
