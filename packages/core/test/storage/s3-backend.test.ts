import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type ConditionalS3,
  type ConditionalWriteProxy,
  startConditionalS3,
  startConditionalWriteProxy,
} from '../../../../test/fixtures/s3-conditional-proxy.js';
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

it('parses s3:// URLs', () => {
  expect(parseS3Url('s3://b/devices/x/')).toEqual({ bucket: 'b', prefix: 'devices/x' });
  expect(() => parseS3Url('s3://b')).toThrow(/whole bucket/);
  expect(() => parseS3Url('http://b')).toThrow(/not an S3 URL/);
});
