// A counting HTTPS reverse proxy in front of s3rver, run as a child process (fork) so
// that its CPU never competes with the harness's own event loop. It terminates TLS with
// the bench certificate, forwards every request unchanged (the Host header is kept, so
// SigV4 signatures stay valid) and counts requests by S3 operation, request-body bytes
// (uploaded) and response-body bytes (downloaded).
//
// IPC: the parent sends {type: 'stats', reset?: boolean}; the child answers
// {type: 'stats', stats}. On start the child sends {type: 'ready', port}.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

const env = process.env;
const upstreamPort = Number(env.BENCH_UPSTREAM_PORT);
const upstreamTls = env.BENCH_UPSTREAM_TLS !== '0';
const key = readFileSync(env.BENCH_KEY);
const cert = readFileSync(env.BENCH_CERT);

const agent = upstreamTls
  ? new https.Agent({ keepAlive: true, maxSockets: 256, ca: cert })
  : new http.Agent({ keepAlive: true, maxSockets: 256 });
const transport = upstreamTls ? https : http;

let stats = fresh();
function fresh() {
  return { ops: {}, status: {}, bytesUp: 0, bytesDown: 0, requests: 0, inFlightMax: 0 };
}
let inFlight = 0;

/** The S3 operation a request is, from its method, path and query (path-style URLs). */
export function classify(method, url, headers) {
  const u = new URL(url, 'http://x');
  const parts = u.pathname.split('/').filter(Boolean);
  const q = u.searchParams;
  const hasKey = parts.length > 1;
  switch (method) {
    case 'PUT':
      if (!hasKey) return 'CreateBucket';
      if (q.has('partNumber')) return headers['x-amz-copy-source'] ? 'UploadPartCopy' : 'UploadPart';
      if (headers['x-amz-copy-source']) return 'CopyObject';
      return 'PutObject';
    case 'POST':
      if (q.has('uploads')) return 'CreateMultipartUpload';
      if (q.has('uploadId')) return 'CompleteMultipartUpload';
      if (q.has('delete')) return 'DeleteObjects';
      return 'PostOther';
    case 'GET':
      if (parts.length === 0) return 'ListBuckets';
      if (!hasKey) {
        if (q.has('location')) return 'GetBucketLocation';
        if (q.has('uploads')) return 'ListMultipartUploads';
        if (q.has('versioning')) return 'GetBucketVersioning';
        return q.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects';
      }
      if (q.has('uploadId')) return 'ListParts';
      return headers.range ? 'GetObjectRange' : 'GetObject';
    case 'HEAD':
      return hasKey ? 'HeadObject' : 'HeadBucket';
    case 'DELETE':
      if (q.has('uploadId')) return 'AbortMultipartUpload';
      return hasKey ? 'DeleteObject' : 'DeleteBucket';
    default:
      return `${method}Other`;
  }
}

const server = https.createServer({ key, cert, keepAliveTimeout: 30_000 }, (req, res) => {
  const op = classify(req.method, req.url, req.headers);
  stats.ops[op] = (stats.ops[op] ?? 0) + 1;
  stats.requests++;
  inFlight++;
  stats.inFlightMax = Math.max(stats.inFlightMax, inFlight);
  const current = stats;
  const headers = { ...req.headers };
  delete headers.expect; // answered here (Node sends 100-continue); never signed by SigV4
  const up = transport.request(
    { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers, agent },
    (ur) => {
      const code = `${ur.statusCode}`;
      current.status[code] = (current.status[code] ?? 0) + 1;
      res.writeHead(ur.statusCode, ur.headers);
      ur.on('data', (chunk) => {
        current.bytesDown += chunk.length;
      });
      ur.pipe(res);
    },
  );
  up.on('error', (error) => {
    current.status.proxyError = (current.status.proxyError ?? 0) + 1;
    if (!res.headersSent) res.writeHead(502);
    res.end(String(error));
  });
  req.on('data', (chunk) => {
    current.bytesUp += chunk.length;
  });
  req.pipe(up);
  res.on('close', () => {
    inFlight--;
  });
});

server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: server.address().port });
});

process.on('message', (message) => {
  if (message?.type === 'stats') {
    process.send({ type: 'stats', stats });
    if (message.reset) stats = fresh();
  } else if (message?.type === 'stop') {
    server.close();
    agent.destroy();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
