import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type ConditionalWriteProxy,
  startConditionalWriteProxy,
} from '../../../../test/fixtures/s3-conditional-proxy.js';
import { type S3Server, startS3Server } from '../../../../test/fixtures/s3-server.js';
import { parseS3Url, S3Backend } from '../../src/storage/s3-backend.js';
import { backendSuite } from './backend-suite.js';

let server: S3Server;
let proxy: ConditionalWriteProxy;
let n = 0;

beforeAll(async () => {
  server = await startS3Server();
  proxy = await startConditionalWriteProxy(server.endpoint);
});
afterAll(async () => {
  await proxy?.stop();
  await server?.stop();
});

function client(): S3Client {
  return new S3Client({
    endpoint: proxy.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: server.credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
}

backendSuite('s3', async () => {
  const bucket = `suite-${++n}`;
  await server.createBucket(bucket);
  return new S3Backend(client(), { bucket, prefix: 'devices/laptop' });
});

it('sends If-None-Match: * on every PUT', async () => {
  await server.createBucket('inm');
  const backend = new S3Backend(client(), { bucket: 'inm', prefix: 'p' });
  const before = proxy.requests.length;
  await backend.putIfAbsent('config', Buffer.from('x'));
  const puts = proxy.requests.slice(before).filter((r) => r.method === 'PUT');
  expect(puts).toHaveLength(1);
  expect(puts[0]?.ifNoneMatch).toBe('*');
  expect(puts[0]?.path.split('?')[0]).toBe('/inm/p/config');
});

it('parses s3:// URLs', () => {
  expect(parseS3Url('s3://b/devices/x/')).toEqual({ bucket: 'b', prefix: 'devices/x' });
  expect(() => parseS3Url('s3://b')).toThrow(/whole bucket/);
  expect(() => parseS3Url('http://b')).toThrow(/not an S3 URL/);
});
