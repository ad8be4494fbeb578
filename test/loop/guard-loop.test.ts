/**
 * The seed's story, offline, with the real local parts: `init --bucket` (control plane
 * mocked, calls and order asserted; the device's S3 calls through the IAM proxy, which
 * evaluates each against the generated policy), push; a thief's GetCallerIdentity and
 * ListBuckets with the device key → the records through the guard's real filter → the
 * quarantine Lambda's handler on an alarm-shaped event → AWSDenyAll enforced by the proxy →
 * the next push exits 20 after one request → status shows the recovery steps, exits 20 →
 * recover → push succeeds → restore is bit-exact.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attackerRecords, deviceIdentity } from '../fixtures/cloudtrail-records.js';
import { GuardLoop } from '../fixtures/guard-loop.js';
import { IamState } from '../fixtures/iam-state.js';
import { MemorySecretStore } from '../fixtures/memory-secret-store.js';
import { MockAccount } from '../fixtures/mock-account.js';
import { type S3IamProxy, startS3IamProxy } from '../fixtures/s3-iam-proxy.js';
import { type S3Server, startS3Server } from '../fixtures/s3-server.js';
import { assertBuilt } from '../support/run-backupctl.js';
import { baseCommandHooks, type InProcessResult, runInProcess } from '../support/run-in-process.js';

const ACCOUNT = '123456789012';
const BUCKET = 'loop-backups';
const DEVICE = 'laptop';
const USER = `backupctl-${DEVICE}`;

/** What a user would see: stdout and stderr, as the terminal interleaves them. */
function transcript(command: string, r: InProcessResult): string {
  return `$ ${command}\n${r.output}(exit ${r.code})\n`;
}

describe('the whole loop, offline', () => {
  let s3: S3Server;
  let proxy: S3IamProxy;
  let iam: IamState;
  let loop: GuardLoop;
  let account: MockAccount;
  let dir: string;
  let src: string;
  let virtual = Date.now();
  const store = new MemorySecretStore();
  const transcripts: string[] = [];
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    assertBuilt();
    s3 = await startS3Server();
    await s3.createBucket(BUCKET);
    iam = new IamState(ACCOUNT);
    proxy = await startS3IamProxy({ upstream: s3.endpoint, iam });
    loop = new GuardLoop({ iam, region: 'us-east-1', now: () => virtual });
    const admin = s3.client();
    account = new MockAccount({
      iam,
      loop,
      region: 'us-east-1',
      buckets: [BUCKET],
      now: () => virtual,
      listObjects: async (bucket, prefix) =>
        ((await admin.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).Contents ?? []).map(
          (o) => ({
            Key: o.Key!,
            LastModified: o.LastModified!,
          }),
        ),
    });
    const hooks = await baseCommandHooks();
    hooks.secretStoreFactory = () => store;
    hooks.adminClientsFactory = () => account.clients;
    // Time passes only when backupctl waits; CloudWatch evaluates the alarms as it does.
    hooks.clock = {
      now: () => virtual,
      sleep: async (ms) => {
        virtual += ms;
        await loop.react(new Date(virtual));
      },
    };
    dir = await mkdtemp(path.join(tmpdir(), 'backupctl-loop-'));
    src = path.join(dir, 'src');
    await mkdir(path.join(src, 'docs'), { recursive: true });
    await writeFile(path.join(src, 'docs', 'thesis.txt'), 'chapter one\n');
    await writeFile(path.join(src, 'photo.bin'), randomBytes(300_000));
    const env: Record<string, string | undefined> = {
      BACKUPCTL_CONFIG_DIR: path.join(dir, 'config'),
      BACKUPCTL_CACHE_DIR: path.join(dir, 'cache'),
      BACKUPCTL_PASSWORD: 'correct horse battery staple',
      BACKUPCTL_HOST: DEVICE,
      BACKUPCTL_AWS_ACCESS_KEY_ID: undefined,
      BACKUPCTL_AWS_SECRET_ACCESS_KEY: undefined,
      // The default chain holds "admin" keys: a device call signed with them would be refused by the proxy.
      AWS_ACCESS_KEY_ID: 'AKIAOWNERADMIN000000',
      AWS_SECRET_ACCESS_KEY: 'owner-admin-secret',
      AWS_REGION: 'us-east-1',
      CREDENTIALS_DIRECTORY: undefined,
      BACKUPCTL_AWS_TRACE: undefined,
    };
    for (const [k, v] of Object.entries(env)) {
      saved[k] = process.env[k];
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  afterAll(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    account?.restore();
    loop?.dispose();
    await proxy?.stop();
    await s3?.stop();
    if (dir) {
      const file = path.join(tmpdir(), 'backupctl-loop-transcripts.txt');
      await writeFile(file, transcripts.join('\n'));
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('plays the story', { timeout: 120_000 }, async () => {
    const initArgs = [
      '--bucket',
      BUCKET,
      '--profile',
      'owner-admin',
      '--email',
      'owner@example.com',
      '--path',
      src,
      '--endpoint',
      proxy.url,
    ];

    // init --dry-run: read calls only, nothing changes.
    const dry = await runInProcess('init', [...initArgs, '--dry-run']);
    transcripts.push(
      transcript(
        `backupctl init --bucket ${BUCKET} --profile owner-admin --email owner@example.com --path ~/src --dry-run`,
        dry,
      ),
    );
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('Plan (nothing was changed)');
    expect(account.calls.filter((c) => /:(Create|Put|Execute|Delete|Detach|Attach)/.test(c))).toEqual([]);
    expect(iam.hasUser(USER)).toBe(false);
    expect(proxy.requests).toHaveLength(0);

    // Without --yes and no terminal to ask: the plan, then exit 34 — still nothing changed.
    const unasked = await runInProcess('init', initArgs);
    expect(unasked.code, unasked.stderr).toBe(34);
    expect(unasked.stderr).toContain('not confirmed');
    expect(account.calls.filter((c) => /:(Create|Put|Execute|Delete|Detach|Attach)/.test(c))).toEqual([]);

    // init: each step, in order.
    const before = account.calls.length;
    const init = await runInProcess('init', [...initArgs, '--yes']);
    transcripts.push(
      transcript(
        `backupctl init --bucket ${BUCKET} --profile owner-admin --email owner@example.com --path ~/src --yes`,
        init,
      ),
    );
    expect(init.code, init.stderr).toBe(0);
    const calls = account.callsSince(before);
    const key = (c: string) =>
      /PutEventSelectors|CreateChangeSet|ExecuteChangeSet|CreateAccessKey|GetMetricData|HeadBucket|GetBucketEncryption|DescribeTrails|GetUser$/.test(
        c,
      );
    expect(calls.filter(key)).toEqual([
      'iam:GetUser',
      'cloudtrail:DescribeTrails',
      'cloudtrail:PutEventSelectors',
      's3:HeadBucket',
      's3:GetBucketEncryption',
      'cloudformation:CreateChangeSet', // guard stack
      'cloudformation:ExecuteChangeSet',
      'cloudformation:CreateChangeSet', // device stack, phase 1: user and policy
      'cloudformation:ExecuteChangeSet',
      'iam:CreateAccessKey',
      'cloudwatch:GetMetricData', // no data point for the user …
      'cloudformation:CreateChangeSet', // … then phase 2: the alarm
      'cloudformation:ExecuteChangeSet',
    ]);
    expect(calls.some((c) => c.startsWith('sts:'))).toBe(false);
    // The probe ran between the key and the alarm: the first device request came before phase 2.
    expect(proxy.requests[0]).toMatchObject({ userName: USER, action: 's3:ListBucket', decision: 'Allowed' });
    expect(loop.alarmState(USER)).toBeDefined();
    const stored = JSON.parse(store.entries.get(`aws-access-key:${DEVICE}`)!);
    expect(iam.accessKeysOf(USER)).toEqual([stored.accessKeyId]);
    const config = JSON.parse(await readFile(path.join(dir, 'config', 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      repository: `s3://${BUCKET}/devices/${DEVICE}/`,
      device: DEVICE,
      guard: {
        accountId: ACCOUNT,
        bucket: BUCKET,
        adminProfile: 'owner-admin',
        userName: USER,
        alarmName: `backupctl-guard-${USER}`,
      },
    });
    expect(JSON.stringify(config)).not.toContain(stored.secretAccessKey);
    expect(init.stdout).toMatch(/Keep a copy of the passphrase/);
    expect(init.stdout).toMatch(/cost\s+about \d+ ¢ a month/);
    expect(init.stdout).toMatch(/acts about 5 to 10 minutes/);

    // A re-run resumes: nothing is created again.
    const again = account.calls.length;
    const rerun = await runInProcess('init', [...initArgs, '--yes']);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(
      account.callsSince(again).filter((c) => /CreateAccessKey|ExecuteChangeSet|PutEventSelectors/.test(c)),
    ).toEqual([]);

    // push, signed with the device key (the proxy knows no admin key): every request allowed.
    const push = await runInProcess('push', []);
    expect(push.code, push.stderr).toBe(0);
    expect(proxy.requests.every((r) => r.userName === USER && r.decision === 'Allowed')).toBe(true);

    // The thief: GetCallerIdentity, then ListBuckets (denied by the device policy).
    const identity = deviceIdentity({ accountId: ACCOUNT, userName: USER, accessKeyId: stored.accessKeyId });
    const records = await attackerRecords(identity, {
      policies: iam.policiesOf(USER),
      time: new Date(virtual),
    });
    expect(loop.deliver(records).map((r) => r.eventName)).toEqual(['GetCallerIdentity', 'ListBuckets']);
    virtual += 5_000;
    const runs = await loop.react(new Date(virtual));
    expect(runs.map((r) => r.error)).toEqual([undefined]);
    expect(iam.isQuarantined(USER)).toBe(true);

    // The next push stops after one request.
    const sent = proxy.requests.length;
    const blocked = await runInProcess('push', []);
    expect(blocked.code, blocked.stderr).toBe(20);
    expect(proxy.requests.length - sent).toBe(1);
    expect(proxy.requests.at(-1)?.decision).toBe('ExplicitlyDenied');

    const status = await runInProcess('status', []);
    transcripts.push(transcript('backupctl status', status));
    expect(status.code).toBe(20);
    expect(status.stdout).toContain('QUARANTINED since');
    expect(status.stdout).toContain('backupctl recover');
    expect(proxy.requests.length - sent).toBe(1);

    // recover: old key gone, the alarm back to OK on its own, AWSDenyAll detached, new key probed.
    const r0 = account.calls.length;
    const recover = await runInProcess('recover', ['--yes']);
    transcripts.push(transcript('backupctl recover --yes', recover));
    expect(recover.code, recover.stderr).toBe(0);
    const rcalls = account
      .callsSince(r0)
      .filter((c) =>
        /FilterLogEvents|DeleteAccessKey|DescribeAlarms|DetachUserPolicy|CreateAccessKey|SetAlarmState/.test(
          c,
        ),
      );
    expect(rcalls[0]).toBe('logs:FilterLogEvents');
    expect(rcalls[1]).toBe('iam:DeleteAccessKey');
    expect(rcalls.filter((c) => c === 'cloudwatch:DescribeAlarms').length).toBeGreaterThan(1); // it waited
    expect(rcalls.slice(-2)).toEqual(['iam:DetachUserPolicy', 'iam:CreateAccessKey']);
    expect(recover.stdout).toContain('GetCallerIdentity');
    expect(recover.stdout).toContain('198.51.100.23');
    expect(iam.isQuarantined(USER)).toBe(false);
    const fresh = JSON.parse(store.entries.get(`aws-access-key:${DEVICE}`)!);
    expect(fresh.accessKeyId).not.toBe(stored.accessKeyId);
    expect(iam.accessKeysOf(USER)).toEqual([fresh.accessKeyId]);
    expect(loop.alarmState(USER)).toBe('OK');

    // The next push succeeds, and what it saved restores bit-exact.
    await writeFile(path.join(src, 'docs', 'thesis.txt'), 'chapter one\nchapter two\n');
    const after = await runInProcess('push', []);
    expect(after.code, after.stderr).toBe(0);
    const healthy = await runInProcess('status', ['--json']);
    expect(healthy.code).toBe(0);
    expect(healthy.json<{ health: { state: string } }>().health.state).toBe('ok');

    // A second device on the same bucket: the guard is current, a device stack is added beside.
    const configDir = process.env.BACKUPCTL_CONFIG_DIR;
    process.env.BACKUPCTL_CONFIG_DIR = path.join(dir, 'config-desktop');
    const s0 = account.calls.length;
    const second = await runInProcess('init', [...initArgs, '--device', 'desktop', '--yes']);
    process.env.BACKUPCTL_CONFIG_DIR = configDir;
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/guard-stack\s+ok\s+backupctl-guard is current/);
    expect(account.callsSince(s0).filter((c) => c === 'cloudformation:ExecuteChangeSet')).toHaveLength(2); // phase 1, phase 2
    expect([...account.stacks.keys()].sort()).toEqual([
      'backupctl-device-backupctl-desktop',
      'backupctl-device-backupctl-laptop',
      'backupctl-guard',
    ]);
    expect(iam.isQuarantined('backupctl-desktop')).toBe(false);

    const guardStatus = await runInProcess('guard:status', []);
    transcripts.push(transcript('backupctl guard status', guardStatus));
    expect(guardStatus.code, guardStatus.stderr).toBe(0);
    const gs = (await runInProcess('guard:status', ['--json'])).json<{
      devices: { device: string; alarm: string; quarantined: boolean; lastSnapshot?: string }[];
    }>();
    expect(gs.devices).toEqual([
      expect.objectContaining({ device: 'desktop', quarantined: false, keys: 1 }),
      expect.objectContaining({ device: DEVICE, alarm: 'OK', quarantined: false, keys: 1 }),
    ]);
    expect(gs.devices[1]?.lastSnapshot).toBeTruthy();
    expect(gs.devices[0]?.lastSnapshot).toBeUndefined();

    const target = path.join(dir, 'restored');
    const restored = await runInProcess('restore', ['latest', '--target', target]);
    expect(restored.code, restored.stderr).toBe(0);
    for (const file of ['docs/thesis.txt', 'photo.bin']) {
      expect(await readFile(path.join(target, src, file))).toEqual(await readFile(path.join(src, file)));
    }
  });
});
