import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type S3ErrorProxy, startS3ErrorProxy } from '../../../../test/fixtures/s3-error-proxy.js';
import { type S3Server, startS3Server } from '../../../../test/fixtures/s3-server.js';
import {
  ACCESS_GUARD_MIDDLEWARE,
  type AwsTraceLine,
  checkCommandAccess,
  installAccessGuard,
  installAwsTrace,
} from '../../src/access/guard-middleware.js';
import { ACCESS_MANIFEST, TRIPWIRE_CALLS } from '../../src/access/manifest.js';
import { BackupctlError } from '../../src/errors/backupctl-error.js';

const BUCKET = 'guarded';
const PREFIX = 'devices/laptop/';
const scope = { bucket: BUCKET, prefix: PREFIX };

let server: S3Server;
let proxy: S3ErrorProxy;
let dir: string;

beforeAll(async () => {
  server = await startS3Server();
  await server.createBucket(BUCKET);
  await server.createBucket('other-bucket');
  proxy = await startS3ErrorProxy(server.endpoint);
  dir = await mkdtemp(path.join(tmpdir(), 'guard-'));
});
afterAll(async () => {
  await proxy?.stop();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});
beforeEach(() => proxy.reset());

let traceN = 0;
function guardedClient(options: { maxAttempts?: number; endpoint?: string } = {}): {
  client: S3Client;
  trace: string;
} {
  const client = new S3Client({
    endpoint: options.endpoint ?? proxy.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: server.credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: options.maxAttempts ?? 3,
  });
  installAccessGuard(client, scope);
  const trace = path.join(dir, `trace-${++traceN}.jsonl`);
  installAwsTrace(client, trace);
  return { client, trace };
}

async function traceLines(file: string): Promise<AwsTraceLine[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AwsTraceLine);
}

const body = Buffer.from('hello');
const put = (Key: string, extra: Record<string, unknown> = {}) =>
  new PutObjectCommand({
    Bucket: BUCKET,
    Key,
    Body: body,
    ContentLength: body.length,
    IfNoneMatch: '*',
    ...extra,
  });

describe('access guard: refused commands never reach the network', () => {
  const refused: Array<[string, () => { send(c: S3Client): Promise<unknown> }]> = [
    ['DeleteObjectCommand', () => cmd(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}config` }))],
    [
      'DeleteObjectsCommand',
      () =>
        cmd(new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: [{ Key: `${PREFIX}config` }] } })),
    ],
    ['HeadBucketCommand', () => cmd(new HeadBucketCommand({ Bucket: BUCKET }))],
    ['ListBucketsCommand', () => cmd(new ListBucketsCommand({}))],
    [
      'CopyObjectCommand',
      () =>
        cmd(new CopyObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}b`, CopySource: `${BUCKET}/${PREFIX}a` })),
    ],
    [
      'CreateMultipartUploadCommand',
      () => cmd(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: `${PREFIX}big` })),
    ],
    [
      'PutObjectCommand',
      () =>
        cmd(
          new PutObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}x`, Body: body, ContentLength: body.length }),
        ),
    ],
    ['PutObjectCommand', () => cmd(put('devices/other/config'))],
    ['PutObjectCommand', () => cmd(put(`${PREFIX}../other/config`))],
    ['PutObjectCommand', () => cmd(put(`/${PREFIX}config`))],
    ['PutObjectCommand', () => cmd(put(`${PREFIX}data//x`))],
    ['PutObjectCommand', () => cmd(put(`${PREFIX}x`, { ACL: 'public-read' }))],
    ['PutObjectCommand', () => cmd(put(`${PREFIX}x`, { Bucket: 'other-bucket' }))],
    ['GetObjectCommand', () => cmd(new GetObjectCommand({ Bucket: BUCKET, Key: 'devices/other/config' }))],
    [
      'GetObjectCommand',
      () => cmd(new GetObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}config`, VersionId: 'v1' })),
    ],
    ['HeadObjectCommand', () => cmd(new HeadObjectCommand({ Bucket: BUCKET, Key: PREFIX }))],
    ['ListObjectsV2Command', () => cmd(new ListObjectsV2Command({ Bucket: BUCKET }))],
    ['ListObjectsV2Command', () => cmd(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'devices/' }))],
    [
      'ListObjectsV2Command',
      () => cmd(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'devices/laptop' })),
    ],
    [
      'ListObjectsV2Command',
      () => cmd(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'devices/other/' })),
    ],
  ];

  // Any S3 command, including ones the device never sends (that is the point here).
  // biome-ignore lint/suspicious/noExplicitAny: the SDK's per-command generics do not unify
  function cmd(command: any) {
    return { send: (c: S3Client) => c.send(command) };
  }

  refused.forEach(([name, make], i) => {
    it(`refuses ${name} (case ${i})`, async () => {
      const { client, trace } = guardedClient();
      const error = await make()
        .send(client)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(BackupctlError.is(error), String(error)).toBe(true);
      expect((error as BackupctlError).code).toBe('ACCESS_REFUSED_LOCALLY');
      expect((error as BackupctlError).message).toContain(name);
      expect((error as BackupctlError).message).toMatch(/bug/);
      expect(proxy.requests).toEqual([]);
      expect(await traceLines(trace)).toEqual([]);
    });
  });

  it('(control) without the guard, the same requests do reach the server', async () => {
    const client = new S3Client({
      endpoint: proxy.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: server.credentials,
      maxAttempts: 1,
    });
    await client.send(new HeadBucketCommand({ Bucket: BUCKET }));
    await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'devices/other/config' }));
    expect(proxy.requests.map((r) => r.method)).toEqual(['HEAD', 'DELETE']);
  });

  it('is installed at the start of the initialize step, before the SDK middlewares', async () => {
    const { client } = guardedClient();
    const command = new PutObjectCommand({ Bucket: BUCKET, Key: 'x' });
    const stack = client.middlewareStack.concat(command.middlewareStack);
    const names = stack.identify();
    expect(names[0]).toBe(`${ACCESS_GUARD_MIDDLEWARE} - initialize`);
  });
});

describe('access guard and trace: allowed commands', () => {
  it('lets the manifest commands through and traces each request with action, resource and context', async () => {
    const { client, trace } = guardedClient();
    await client.send(put(`${PREFIX}config`));
    const got = await client.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}config`, Range: 'bytes=1-3' }),
    );
    expect(await got.Body?.transformToString()).toBe('ell');
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}config` }));
    expect(head.ContentLength).toBe(5);
    const list = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: PREFIX, MaxKeys: 10 }));
    expect(list.Contents?.map((o) => o.Key)).toEqual([`${PREFIX}config`]);

    expect(proxy.requests.map((r) => r.method)).toEqual(['PUT', 'GET', 'HEAD', 'GET']);
    const lines = await traceLines(trace);
    expect(lines.map(({ time: _t, ...rest }) => rest)).toEqual([
      {
        service: 's3',
        command: 'PutObjectCommand',
        action: 's3:PutObject',
        resource: `arn:aws:s3:::${BUCKET}/${PREFIX}config`,
        context: { 's3:if-none-match': '*' },
        status: 200,
      },
      {
        service: 's3',
        command: 'GetObjectCommand',
        action: 's3:GetObject',
        resource: `arn:aws:s3:::${BUCKET}/${PREFIX}config`,
        context: {},
        status: 206,
      },
      {
        service: 's3',
        command: 'HeadObjectCommand',
        action: 's3:GetObject',
        resource: `arn:aws:s3:::${BUCKET}/${PREFIX}config`,
        context: {},
        status: 200,
      },
      {
        service: 's3',
        command: 'ListObjectsV2Command',
        action: 's3:ListBucket',
        resource: `arn:aws:s3:::${BUCKET}`,
        context: { 's3:prefix': PREFIX },
        status: 200,
      },
    ]);
  });

  it('traces the status of an error answer, and the ListBucket check behind a 404', async () => {
    const { client, trace } = guardedClient();
    const missing = `${PREFIX}snapshots/missing`;
    await expect(client.send(new GetObjectCommand({ Bucket: BUCKET, Key: missing }))).rejects.toMatchObject({
      name: 'NoSuchKey',
    });
    const [line] = await traceLines(trace);
    expect(line).toMatchObject({ action: 's3:GetObject', status: 404 });
    expect(line?.implied).toEqual([
      { action: 's3:ListBucket', resource: `arn:aws:s3:::${BUCKET}`, context: { 's3:prefix': missing } },
    ]);
  });

  it('traces every attempt the retry strategy sends (a 503 then a 200)', async () => {
    const { client, trace } = guardedClient({ maxAttempts: 3 });
    proxy.answer({
      method: 'PUT',
      times: 1,
      answer: {
        status: 503,
        body: '<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>',
      },
    });
    await client.send(put(`${PREFIX}data/00/retry-me`));
    expect(proxy.requests.map((r) => [r.method, r.answered])).toEqual([
      ['PUT', true],
      ['PUT', false],
    ]);
    expect((await traceLines(trace)).map((l) => [l.action, l.status, l.context['s3:if-none-match']])).toEqual(
      [
        ['s3:PutObject', 503, '*'],
        ['s3:PutObject', 200, '*'],
      ],
    );
  });

  it('traces a request that got no answer with status null', async () => {
    // A port nobody listens on: the request is sent and gets no answer at all.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const { client, trace } = guardedClient({ maxAttempts: 1, endpoint: `http://127.0.0.1:${port}` });
    await expect(
      client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}config` })),
    ).rejects.toThrow();
    const lines = await traceLines(trace);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ action: 's3:GetObject', status: null });
    expect(lines[0]?.error).toBeTruthy();
  });

  it('writes whole lines under concurrency', async () => {
    const { client, trace } = guardedClient({ maxAttempts: 1 });
    const before = proxy.requests.length;
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => client.send(put(`${PREFIX}data/01/${i}-${'x'.repeat(200)}`))),
    );
    const lines = await traceLines(trace);
    // One whole JSON line per request sent (traceLines parses each line).
    expect(lines).toHaveLength(proxy.requests.length - before);
    expect(lines).toHaveLength(40);
    expect(new Set(lines.map((l) => l.resource)).size).toBe(40);
  });
});

describe('checkCommandAccess', () => {
  it('refuses every tripwire call (GetCallerIdentity, GetSessionToken): the manifest holds no STS', () => {
    expect(TRIPWIRE_CALLS.map((c) => c.action)).toEqual(['sts:GetCallerIdentity', 'sts:GetSessionToken']);
    for (const call of TRIPWIRE_CALLS) {
      expect(() => checkCommandAccess(`${call.eventName}Command`, {}, scope)).toThrow(
        /not in the access manifest/,
      );
    }
    const manifestActions = new Set<string>(ACCESS_MANIFEST.map((e) => e.action));
    for (const call of TRIPWIRE_CALLS) expect(manifestActions.has(call.action)).toBe(false);
  });

  it('describes an allowed request as IAM sees it', () => {
    expect(
      checkCommandAccess(
        'ListObjectsV2Command',
        { Bucket: BUCKET, Prefix: `${PREFIX}index/` },
        scope,
        'aws-cn',
      ),
    ).toEqual({
      action: 's3:ListBucket',
      resource: `arn:aws-cn:s3:::${BUCKET}`,
      context: { 's3:prefix': `${PREFIX}index/` },
    });
  });

  it('accepts the prefix without its trailing slash, as S3Backend holds it', () => {
    expect(() =>
      checkCommandAccess(
        'GetObjectCommand',
        { Bucket: BUCKET, Key: `${PREFIX}config` },
        { bucket: BUCKET, prefix: 'devices/laptop' },
      ),
    ).not.toThrow();
    expect(() =>
      checkCommandAccess(
        'GetObjectCommand',
        { Bucket: BUCKET, Key: 'devices/laptop2/config' },
        { bucket: BUCKET, prefix: 'devices/laptop' },
      ),
    ).toThrow(/outside/);
  });

  it('refuses an empty or wildcard scope', () => {
    for (const prefix of ['', '/', 'devices/*/', '../x/', 'devices//x/']) {
      expect(
        () => installAccessGuard(new S3Client({ region: 'us-east-1' }), { bucket: BUCKET, prefix }),
        prefix,
      ).toThrow(/invalid access scope/);
    }
  });
});

describe('installDeviceGuards', () => {
  it('puts the guard first, the breaker inside the retry loop, the trace after signing', async () => {
    const { installDeviceGuards } = await import('../../src/access/device-guards.js');
    const client = new S3Client({ region: 'us-east-1' });
    installDeviceGuards(client, scope, { traceFile: path.join(dir, 'order.jsonl') });
    const names = client.middlewareStack
      .concat(new PutObjectCommand({ Bucket: BUCKET, Key: 'x' }).middlewareStack)
      .identify()
      .map((n) => n.split(' ')[0]);
    const at = (name: string) => names.indexOf(name);
    expect(at('backupctlAccessGuard')).toBe(0);
    expect(at('retryMiddleware')).toBeLessThan(at('backupctlQuarantineBreaker'));
    expect(at('backupctlQuarantineBreaker')).toBeLessThan(at('httpSigningMiddleware'));
    expect(at('backupctlNo403Retry')).toBeGreaterThan(at('retryMiddleware'));
    expect(at('backupctlNo403Retry')).toBeLessThan(at('httpSigningMiddleware'));
    expect(at('httpSigningMiddleware')).toBeLessThan(at('backupctlAwsTrace'));
    expect(at('backupctlAwsTrace')).toBeLessThan(at('deserializerMiddleware'));
  });
});
