/**
 * The proof of the invariant (DESIGN.md, "The invariant that makes the guard safe to live
 * with"): a full session of the real binary against a real S3-protocol server records every
 * request it sends (BACKUPCTL_AWS_TRACE), and each one is evaluated against the device's
 * generated IAM policy with @cloud-copilot/iam-simulate. Zero denials is the bar.
 */
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  DeleteObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import {
  type AwsTraceLine,
  bucketArn,
  generateDevicePolicy,
  objectArn,
  openBackend,
  TRIPWIRE_CALLS,
} from '@backupctl/core';
import { S3Backend } from '@backupctl/core/s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConditionalWriteProxy, startConditionalWriteProxy } from './fixtures/s3-conditional-proxy.js';
import { type S3Server, startS3Server } from './fixtures/s3-server.js';
import { assertBuilt, makeS3Device, type S3Device } from './support/backupctl-bin.js';
import { ACCOUNT_ID, denials, evaluateTrace, readTrace } from './support/iam-trace.js';
import { describeTree } from './support/tree.js';

const BUCKET = 'guard-proof';
const DEVICE = 'laptop-1';
const policy = generateDevicePolicy({ bucket: BUCKET, device: DEVICE, accountId: ACCOUNT_ID });
/**
 * Lines of STS calls, the guard's tripwires (core's TRIPWIRE_CALLS) above all: the simulator
 * (as AWS) allows GetCallerIdentity and GetSessionToken under any policy, so this is its own check.
 */
const TRIPWIRE_ACTIONS = new Set<string>(TRIPWIRE_CALLS.map((c) => c.action));
const stsLines = (lines: readonly AwsTraceLine[]) =>
  lines.filter(
    (l) =>
      (l.service as string) !== 's3' ||
      String(l.action).startsWith('sts:') ||
      TRIPWIRE_ACTIONS.has(String(l.action)),
  );
const evaluate = (lines: readonly AwsTraceLine[]) =>
  evaluateTrace(lines, { policy, device: DEVICE, accountId: ACCOUNT_ID });

describe('the invariant: a full session through the binary makes no request its policy denies', () => {
  let s3: S3Server;
  let proxy: ConditionalWriteProxy;
  let device: S3Device;
  let traceFile: string;
  let trace: AwsTraceLine[] = [];

  beforeAll(async () => {
    assertBuilt();
    s3 = await startS3Server();
    await s3.createBucket(BUCKET);
    proxy = await startConditionalWriteProxy(s3.endpoint);
    device = await makeS3Device();
    traceFile = path.join(device.dir, 'aws-trace.jsonl');
    device.env.BACKUPCTL_AWS_TRACE = traceFile;
  });
  afterAll(async () => {
    await proxy?.stop();
    await s3?.stop();
    await device?.remove();
  });

  it('init, push, edit, push, status, snapshots, restore, check --read-data, repair index: every request traced, all allowed', async () => {
    const src = device.src;
    await mkdir(path.join(src, 'docs'), { recursive: true });
    await writeFile(path.join(src, 'docs', 'notes.txt'), 'first version\n');
    await writeFile(path.join(src, 'big.bin'), Buffer.alloc(2 * 1024 * 1024, 7));
    const ok = async (args: string[]) => {
      const r = await device.run(args);
      expect(r.code, `backupctl ${args.join(' ')}\n${r.stderr}`).toBe(0);
      return r;
    };

    await ok([
      'init',
      '--repo',
      `s3://${BUCKET}/devices/${DEVICE}`,
      '--endpoint',
      proxy.endpoint,
      '--path',
      src,
      '--no-keychain',
      '--json',
    ]);
    await ok(['push', '--json']);
    await appendFile(path.join(src, 'docs', 'notes.txt'), 'second version\n');
    await writeFile(path.join(src, 'docs', 'new.txt'), 'a new file\n');
    const big = await readFile(path.join(src, 'big.bin'));
    big.fill(9, 1024 * 1024, 1024 * 1024 + 4096);
    await writeFile(path.join(src, 'big.bin'), big);
    await ok(['push', '--json']);
    // Read-only commands run two at a time (the trace appends each line in one write).
    const target = path.join(device.dir, 'restored');
    const [statusRun, snapshotsRun] = await Promise.all([
      ok(['status', '--json']),
      ok(['snapshots', '--json']),
    ]);
    const status = statusRun.json<{ health: { state: string }; repository: { snapshots: number } }>();
    expect(status.health.state).toBe('ok');
    expect(status.repository.snapshots).toBe(2);
    expect(snapshotsRun.json<unknown[]>()).toHaveLength(2);
    await Promise.all([
      ok(['restore', 'latest', '--target', target, '--json']),
      ok(['check', '--read-data', '--json']),
    ]);
    // repair index reads like check (index files fresh, pack listing, prune markers).
    expect((await ok(['repair', 'index', '--json'])).json<{ packs: unknown[] }>().packs).toEqual([]);
    // Each backed-up path is restored at its absolute path under the target.
    const restored = await describeTree(path.join(target, src));
    const original = await describeTree(src);
    const sha = (m: Map<string, { sha256?: string }>) =>
      [...m].filter(([, e]) => e.sha256).map(([p, e]) => `${p} ${e.sha256}`);
    expect(sha(restored)).toEqual(sha(original));
    expect(sha(original)).toHaveLength(3);

    trace = await readTrace(traceFile);
    // The trace is complete: one line per request the server side saw.
    expect(proxy.requests.length).toBeGreaterThan(0);
    expect(trace).toHaveLength(proxy.requests.length);
    const methodOf: Record<string, string> = {
      PutObjectCommand: 'PUT',
      GetObjectCommand: 'GET',
      HeadObjectCommand: 'HEAD',
      ListObjectsV2Command: 'GET',
    };
    expect(trace.map((l) => methodOf[l.command] ?? l.command).sort()).toEqual(
      proxy.requests.map((r) => r.method).sort(),
    );

    // No STS, ever: GetCallerIdentity is the guard's tripwire.
    expect(stsLines(trace)).toEqual([]);
    const actions = new Set(trace.map((l) => l.action));
    for (const action of ['s3:PutObject', 's3:GetObject', 's3:ListBucket']) expect(actions).toContain(action);
    // Every write was conditional, and the conditional proxy's 412s were met (no overwrite).
    expect(trace.filter((l) => l.action === 's3:PutObject' && l.context['s3:if-none-match'] !== '*')).toEqual(
      [],
    );

    const evaluations = await evaluate(trace);
    expect(evaluations.length).toBeGreaterThanOrEqual(trace.length);
    expect(evaluations.filter((e) => e.ignoredContextKeys.length > 0)).toEqual([]);
    expect(denials(evaluations)).toEqual([]);
    console.log(
      `guard proof: ${trace.length} requests, ${evaluations.length} authorisations, 0 denials; ` +
        [...new Set(trace.map((l) => `${l.command}→${l.action} ${l.status}`))].sort().join(', '),
    );
  });

  it('the evaluation can fail: a request outside the policy added to the same trace is exactly the denial reported', async () => {
    expect(trace.length).toBeGreaterThan(0);
    const { implied: _none, ...base } = trace[0] as AwsTraceLine;
    const line = (extra: Partial<AwsTraceLine>): AwsTraceLine => ({ ...base, status: 200, ...extra });
    const outside: Array<[string, AwsTraceLine]> = [
      [
        'PutObject without If-None-Match (an overwrite)',
        line({
          command: 'PutObjectCommand',
          action: 's3:PutObject',
          resource: objectArn(BUCKET, `devices/${DEVICE}/config`),
          context: {},
        }),
      ],
      [
        "GetObject of another device's object",
        line({
          command: 'GetObjectCommand',
          action: 's3:GetObject',
          resource: objectArn(BUCKET, 'devices/other-laptop/config'),
          context: {},
        }),
      ],
      [
        'ListBucket without a prefix (a HeadBucket, or a listing of the whole bucket)',
        line({
          command: 'ListObjectsV2Command',
          action: 's3:ListBucket',
          resource: bucketArn(BUCKET),
          context: {},
        }),
      ],
      [
        'a 404 GetObject of another device, whose implied ListBucket is outside the prefix too',
        line({
          command: 'GetObjectCommand',
          action: 's3:GetObject',
          resource: objectArn(BUCKET, `devices/${DEVICE}/keys/x`),
          context: {},
          status: 404,
          implied: [
            {
              action: 's3:ListBucket',
              resource: bucketArn(BUCKET),
              context: { 's3:prefix': 'devices/other/' },
            },
          ],
        }),
      ],
    ];
    for (const [what, bad] of outside) {
      const at = Math.floor(trace.length / 2);
      const tampered = [...trace.slice(0, at), bad, ...trace.slice(at)];
      const found = denials(await evaluate(tampered));
      expect(found, what).toHaveLength(1);
      const [denial] = found;
      expect(denial?.line, what).toBe(at);
      if (bad.implied) {
        expect(denial?.implied, what).toBe(true);
        expect(denial?.context['s3:prefix']).toBe('devices/other/');
      } else {
        expect(denial?.action, what).toBe(bad.action);
        expect(denial?.resource, what).toBe(bad.resource);
      }
      expect(denial?.result, what).toBe('ImplicitlyDenied');
    }

    // The tripwires (GetCallerIdentity, GetSessionToken) cannot be denied, so the no-STS
    // rule is a check of its own, and it catches one STS line in the trace.
    for (const call of TRIPWIRE_CALLS) {
      const sts = {
        ...base,
        service: 'sts',
        command: `${call.eventName}Command`,
        action: call.action,
        resource: '*',
        context: {},
      } as unknown as AwsTraceLine;
      const withSts = [...trace, sts];
      // AWS requires no permission for either call. The simulator knows it for
      // GetCallerIdentity only (it would report GetSessionToken as a denial): either way,
      // the simulation is not what catches them — the no-STS rule is.
      if (call.action === 'sts:GetCallerIdentity') {
        expect(denials(await evaluate(withSts)), call.action).toEqual([]);
      }
      expect(stsLines(withSts)).toEqual([sts]);
    }
  });

  it('why init refuses a bucket encrypted with a customer KMS key: every PUT would add a denied KMS call', async () => {
    expect(trace.length).toBeGreaterThan(0);
    const put = trace.find((l) => l.action === 's3:PutObject')!;
    const key = `arn:aws:kms:us-east-1:${ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
    // What S3 asks KMS, as the device, for each PUT (GenerateDataKey) and GET (Decrypt) then.
    const kmsCalls = ['kms:GenerateDataKey', 'kms:Decrypt'].map((action) => ({
      ...put,
      action,
      resource: key,
      context: {
        'kms:ViaService': 's3.us-east-1.amazonaws.com',
        'kms:EncryptionContext:aws:s3:arn': String(put.resource),
      },
    }));
    const found = denials(await evaluate(kmsCalls as AwsTraceLine[]));
    expect(found.map((d) => [d.action, d.result])).toEqual([
      ['kms:GenerateDataKey', 'ImplicitlyDenied'],
      ['kms:Decrypt', 'ImplicitlyDenied'],
    ]);
  });

  it('the client refuses a command outside the manifest locally: nothing reaches the server', async () => {
    const backend = await openBackend(
      { repository: `s3://${BUCKET}/devices/${DEVICE}`, endpoint: proxy.endpoint },
      { credentials: s3.credentials, traceFile },
    );
    expect(backend).toBeInstanceOf(S3Backend);
    const { client } = backend as S3Backend;
    const before = proxy.requests.length;
    const traced = (await readTrace(traceFile)).length;
    const key = `devices/${DEVICE}/config`;
    const refused = [
      new DeleteObjectCommand({ Bucket: BUCKET, Key: key }),
      new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'overwrite' }),
      new ListObjectsV2Command({ Bucket: BUCKET }),
      new HeadBucketCommand({ Bucket: BUCKET }),
    ];
    for (const command of refused) {
      // biome-ignore lint/suspicious/noExplicitAny: one loop over commands of different types
      await expect(client.send(command as any)).rejects.toMatchObject({ code: 'ACCESS_REFUSED_LOCALLY' });
    }
    expect(proxy.requests.length).toBe(before);
    expect(await readTrace(traceFile)).toHaveLength(traced);
    // The object the DeleteObject named is still there.
    await expect(backend.get('config')).resolves.toBeInstanceOf(Buffer);
    expect(proxy.requests.length).toBe(before + 1);
    client.destroy();
    await rm(path.join(device.dir, 'restored'), { recursive: true, force: true });
  });
});
