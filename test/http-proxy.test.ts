/**
 * The test proxies' base (test/fixtures/http-proxy.ts) against a real node:http upstream,
 * and the If-None-Match proxy's atomicity against s3rver.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningHttpProxy, startHttpProxy } from './fixtures/http-proxy.js';
import { type ConditionalS3, startConditionalS3 } from './fixtures/s3-conditional-proxy.js';

interface Seen {
  method: string;
  url: string;
  host: string | undefined;
  body: string;
}

let upstream: http.Server;
let upstreamUrl: string;
const seen: Seen[] = [];

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method ?? '', url: req.url ?? '', host: req.headers.host, body });
      res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': 'yes' });
      res.end(`echo:${req.method}:${req.url}:${body}`);
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
afterAll(async () => {
  upstream.closeAllConnections();
  await new Promise((resolve) => upstream.close(resolve));
});

async function withProxy(
  options: Omit<Parameters<typeof startHttpProxy>[0], 'upstream'>,
  run: (proxy: RunningHttpProxy) => Promise<void>,
): Promise<void> {
  const proxy = await startHttpProxy({ upstream: upstreamUrl, ...options });
  try {
    await run(proxy);
  } finally {
    await proxy.stop();
  }
}

describe('http-proxy', () => {
  it('forwards method, path, query, body and the Host header unchanged', async () => {
    await withProxy({}, async (proxy) => {
      expect(proxy.url).toBe(`http://127.0.0.1:${proxy.port}`);
      const res = await fetch(`${proxy.url}/a/b?x=1`, { method: 'PUT', body: 'hello' });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-upstream')).toBe('yes');
      expect(await res.text()).toBe('echo:PUT:/a/b?x=1:hello');
      expect(seen.at(-1)).toEqual({
        method: 'PUT',
        url: '/a/b?x=1',
        host: `127.0.0.1:${proxy.port}`,
        body: 'hello',
      });
    });
  });

  it('answers itself when onRequest says so: the upstream never sees the request', async () => {
    const before = seen.length;
    await withProxy(
      { onRequest: (req) => (req.method === 'DELETE' ? { status: 403, body: 'no' } : undefined) },
      async (proxy) => {
        const res = await fetch(`${proxy.url}/k`, { method: 'DELETE' });
        expect(res.status).toBe(403);
        expect(await res.text()).toBe('no');
        expect(seen.length).toBe(before);
        expect((await fetch(`${proxy.url}/k`)).status).toBe(200);
        expect(seen.length).toBe(before + 1);
      },
    );
  });

  it('gives hooks the request body as a Buffer and still forwards it', async () => {
    const bodies: Buffer[] = [];
    await withProxy(
      {
        async onRequest(req) {
          bodies.push(await req.body());
          return undefined;
        },
      },
      async (proxy) => {
        const payload = Buffer.alloc(300_000, 7);
        const res = await fetch(`${proxy.url}/big`, { method: 'POST', body: payload });
        expect(await res.text()).toBe(`echo:POST:/big:${payload.toString()}`);
        expect(bodies).toHaveLength(1);
        expect(Buffer.isBuffer(bodies[0])).toBe(true);
        expect(bodies[0]?.equals(payload)).toBe(true);
      },
    );
  });

  it('forwards an altered request and lets onResponse replace the answer', async () => {
    await withProxy(
      {
        onRequest: () => ({ forward: { url: '/rewritten', body: 'changed' } }),
        async onResponse(_req, res) {
          const text = (await res.body()).toString();
          return { status: 201, headers: { 'x-altered': '1' }, body: text.toUpperCase() };
        },
      },
      async (proxy) => {
        const res = await fetch(`${proxy.url}/orig`, { method: 'PUT', body: 'original' });
        expect(res.status).toBe(201);
        expect(res.headers.get('x-altered')).toBe('1');
        expect(await res.text()).toBe('ECHO:PUT:/REWRITTEN:CHANGED');
      },
    );
  });

  it('drops the connection on reset, and calls onFinished once per request', async () => {
    const finished: string[] = [];
    await withProxy(
      {
        onRequest: (req) => (req.path === '/drop' ? 'reset' : undefined),
        onFinished: (req) => finished.push(req.path),
      },
      async (proxy) => {
        await expect(fetch(`${proxy.url}/drop`)).rejects.toThrow();
        expect((await fetch(`${proxy.url}/ok`)).status).toBe(200);
        await expect.poll(() => [...finished].sort()).toEqual(['/drop', '/ok']);
      },
    );
  });

  for (const drop of ['reset', 'close'] as const) {
    it(`cut: status, headers and part of the body, then the connection dropped (${drop})`, async () => {
      const body = Buffer.alloc(64 * 1024, 7);
      await withProxy(
        { onRequest: () => ({ status: 200, body, cut: { after: 1000, drop } }) },
        async (proxy) => {
          const got = await new Promise<{
            status: number;
            headers: http.IncomingHttpHeaders;
            bytes: number;
            error?: string;
          }>((resolve) => {
            const req = http.get(`${proxy.url}/cut`, (res) => {
              let bytes = 0;
              res.on('data', (c: Buffer) => {
                bytes += c.length;
              });
              const done = (error?: Error) =>
                resolve({
                  status: res.statusCode ?? 0,
                  headers: res.headers,
                  bytes,
                  error: error?.message ?? (res.complete ? undefined : 'incomplete'),
                });
              res.once('error', done);
              res.once('end', () => done());
              res.once('close', () => done());
            });
            // The reset also reaches the request: owned here, not an unhandled error.
            req.on('error', () => undefined);
          });
          expect(got.status).toBe(200);
          expect(got.headers['content-length']).toBe(String(body.length));
          expect(got.bytes).toBe(1000);
          expect(got.error).toBeDefined();
        },
      );
    });
  }

  it('answers 502 when the upstream cannot be reached', async () => {
    const proxy = await startHttpProxy({ upstream: 'http://127.0.0.1:1' });
    try {
      const res = await fetch(`${proxy.url}/x`);
      expect(res.status).toBe(502);
    } finally {
      await proxy.stop();
    }
  });
});

describe('s3-conditional-proxy', () => {
  let s3: ConditionalS3;
  beforeAll(async () => {
    s3 = await startConditionalS3();
    await s3.server.createBucket('race');
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it('of concurrent create-only PUTs to one key exactly one wins, the others get 412', async () => {
    const client = s3.client();
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        client.send(
          new PutObjectCommand({ Bucket: 'race', Key: 'k', Body: `writer ${i}`, IfNoneMatch: '*' }),
        ),
      ),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(7);
    for (const r of lost) {
      expect((r as PromiseRejectedResult).reason).toMatchObject({
        name: 'PreconditionFailed',
        $metadata: { httpStatusCode: 412 },
      });
    }
  });

  it('create-only PUTs to different keys all succeed', async () => {
    const client = s3.client();
    await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        client.send(new PutObjectCommand({ Bucket: 'race', Key: `d/${i}`, Body: 'x', IfNoneMatch: '*' })),
      ),
    );
  });
});
