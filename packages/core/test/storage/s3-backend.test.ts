import { createHash } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHttpProxy } from '../../../../test/fixtures/http-proxy.js';
import { type ConditionalS3, startConditionalS3 } from '../../../../test/fixtures/s3-conditional-proxy.js';
import { parseS3Url, S3Backend } from '../../src/storage/s3-backend.js';
import { backendSuite } from './backend-suite.js';

let s3: ConditionalS3;
let n = 0;

beforeAll(async () => {
  s3 = await startConditionalS3();
});
afterAll(async () => {
  await s3?.stop();
});

const client = () => s3.client();

backendSuite('s3', async () => {
  const bucket = `suite-${++n}`;
  await s3.server.createBucket(bucket);
  return new S3Backend(client(), { bucket, prefix: 'devices/laptop' });
});

it('sends If-None-Match: * on every PUT', async () => {
  await s3.server.createBucket('inm');
  const backend = new S3Backend(client(), { bucket: 'inm', prefix: 'p' });
  const before = s3.proxy.requests.length;
  await backend.putIfAbsent('config', Buffer.from('x'));
  const puts = s3.proxy.requests.slice(before).filter((r) => r.method === 'PUT');
  expect(puts).toHaveLength(1);
  expect(puts[0]?.ifNoneMatch).toBe('*');
  expect(puts[0]?.path.split('?')[0]).toBe('/inm/p/config');
});

it('sends a SHA-256 checksum of the body on every PUT (Object Lock buckets refuse a PUT without one)', async () => {
  await s3.server.createBucket('checksum');
  const seen: Array<{ headers: Record<string, unknown>; body: Buffer }> = [];
  const tap = await startHttpProxy({
    upstream: s3.proxy.endpoint,
    async onRequest(request) {
      if (request.method === 'PUT')
        seen.push({ headers: { ...request.headers }, body: await request.body() });
      return undefined;
    },
  });
  try {
    const tapped = new S3Client({
      endpoint: tap.url,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: s3.server.credentials,
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    const backend = new S3Backend(tapped, { bucket: 'checksum', prefix: 'p' });
    const body = Buffer.from('pack bytes '.repeat(1000));
    expect(await backend.putIfAbsent('data/ab', body)).toBe('created');
    expect(await backend.get('data/ab')).toEqual(body);
    tapped.destroy();
  } finally {
    await tap.stop();
  }
  expect(seen).toHaveLength(1);
  const [put] = seen;
  expect(put!.headers['x-amz-sdk-checksum-algorithm']).toBe('SHA256');
  expect(put!.headers['x-amz-checksum-sha256']).toBe(createHash('sha256').update(put!.body).digest('base64'));
  // A plain body, not aws-chunked with a trailer: the checksum is a header S3 checks up front.
  expect(put!.headers['content-encoding']).toBeUndefined();
});

it('parses s3:// URLs', () => {
  expect(parseS3Url('s3://b/devices/x/')).toEqual({ bucket: 'b', prefix: 'devices/x' });
  expect(() => parseS3Url('s3://b')).toThrow(/whole bucket/);
  expect(() => parseS3Url('http://b')).toThrow(/not an S3 URL/);
});
