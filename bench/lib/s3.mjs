// The local S3 server of the bench: s3rver with TLS (a self-signed certificate for
// 127.0.0.1 made with openssl at bench time) behind the counting proxy. Every process
// started here is stopped by its PID.
import { execFileSync, fork, spawn } from 'node:child_process';
import { promises as fs, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { duFiles } from './data.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const S3RVER = path.join(repoRoot, 'node_modules', 's3rver', 'bin', 's3rver.js');

export function makeCert(dir) {
  mkdirSync(dir, { recursive: true });
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return { key, cert };
}

/**
 * Starts s3rver (TLS unless upstreamTls is false) with the given buckets, and the counting
 * proxy in front of it. Returns { endpoint, port, stats(reset), countObjects(bucket), stop() }.
 */
export async function startS3({ dir, buckets, key, cert, upstreamTls = true }) {
  const dataDir = path.join(dir, 's3rver-data');
  mkdirSync(dataDir, { recursive: true });
  const args = [S3RVER, '-a', '127.0.0.1', '-p', '0', '-d', dataDir, '--silent'];
  if (upstreamTls) args.push('--key', key, '--cert', cert);
  for (const b of buckets) args.push('--configure-bucket', b);
  const server = spawn(process.execPath, args, {
    env: { ...process.env, NODE_OPTIONS: '--openssl-legacy-provider' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const serverPort = await new Promise((resolve, reject) => {
    const onData = (d) => {
      log += d;
      const m = /listening on [^:\s]+:(\d+)/i.exec(log);
      if (m) resolve(Number(m[1]));
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', onData);
    server.on('exit', (code) => reject(new Error(`s3rver exited (${code}): ${log}`)));
    setTimeout(() => reject(new Error(`s3rver did not start: ${log}`)), 15_000);
  });
  server.stdout.resume();
  server.stderr.resume();

  const proxy = fork(path.join(here, 'proxy.mjs'), [], {
    env: {
      ...process.env,
      BENCH_UPSTREAM_PORT: String(serverPort),
      BENCH_UPSTREAM_TLS: upstreamTls ? '1' : '0',
      BENCH_KEY: key,
      BENCH_CERT: cert,
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise((resolve, reject) => {
    proxy.once('message', (m) => (m?.type === 'ready' ? resolve(m.port) : reject(new Error('proxy'))));
    proxy.once('exit', (code) => reject(new Error(`proxy exited (${code})`)));
  });

  const stats = (reset = true) =>
    new Promise((resolve) => {
      const on = (m) => {
        if (m?.type !== 'stats') return;
        proxy.off('message', on);
        resolve(m.stats);
      };
      proxy.on('message', on);
      proxy.send({ type: 'stats', reset });
    });

  /** Objects and their bytes in a bucket, from s3rver's data folder (no request made). */
  const countObjects = async (bucket, prefix = '') => {
    const { files, bytes } = await duFiles(path.join(dataDir, bucket, ...prefix.split('/')), (rel) =>
      rel.endsWith('._S3rver_object'),
    );
    return { objects: files, bytes };
  };

  /** Deletes every object under `prefix` (a folder path) of a bucket, in s3rver's data folder. */
  const removePrefix = async (bucket, prefix) => {
    if (!prefix) throw new Error('removePrefix: no prefix');
    await fs.rm(path.join(dataDir, bucket, ...prefix.split('/')), { recursive: true, force: true });
  };

  const stop = async () => {
    for (const child of [proxy, server]) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((r) => child.once('exit', r));
      try {
        process.kill(child.pid, 'SIGTERM');
      } catch {}
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {}
      }
    }
  };

  return {
    endpoint: `https://127.0.0.1:${port}`,
    port,
    serverPort,
    serverPid: server.pid,
    proxyPid: proxy.pid,
    stats,
    countObjects,
    removePrefix,
    stop,
  };
}
