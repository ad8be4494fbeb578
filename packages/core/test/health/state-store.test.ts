import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BackupctlError } from '../../src/errors/backupctl-error.js';
import { classifyAwsError } from '../../src/health/classify.js';
import { QuarantinedError } from '../../src/health/quarantined-error.js';
import { healthStateFrom, QuarantineStateStore } from '../../src/health/state-store.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'health-state-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const denyAll = Object.assign(
  new Error(
    'User: arn:aws:iam::111122223333:user/backupctl/laptop is not authorized to perform: s3:PutObject on resource: "arn:aws:s3:::b/devices/laptop/config" with an explicit deny in an identity-based policy: arn:aws:iam::aws:policy/AWSDenyAll',
  ),
  { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } },
);

describe('QuarantineStateStore', () => {
  it('has no state before the first answer', async () => {
    expect(await new QuarantineStateStore(path.join(dir, 'state')).load()).toBeUndefined();
  });

  it('records the latest answer, which always overwrites the previous one', async () => {
    const store = new QuarantineStateStore(path.join(dir, 'state'));
    const t1 = new Date('2026-11-23T10:00:00Z');
    await store.record(classifyAwsError(denyAll), { command: 'PutObjectCommand' }, t1);
    expect(await store.load()).toEqual({
      version: 1,
      status: 'quarantined',
      time: t1.toISOString(),
      request: {
        command: 'PutObjectCommand',
        action: 's3:PutObject',
        resource: 'arn:aws:s3:::b/devices/laptop/config',
      },
      message: denyAll.message,
      errorName: 'AccessDenied',
      httpStatus: 403,
      policy: 'backupctl-guard',
      policyArn: 'arn:aws:iam::aws:policy/AWSDenyAll',
    });
    // Recovered by hand: the next run's answer is healthy, and says so.
    const t2 = new Date('2026-11-23T11:00:00Z');
    await store.record({ status: 'ok', retryable: false }, { command: 'ListObjectsV2Command' }, t2);
    expect(await store.load()).toEqual({
      version: 1,
      status: 'ok',
      time: t2.toISOString(),
      request: { command: 'ListObjectsV2Command' },
    });
    // Written by rename: no temporary file left behind.
    expect(await readdir(path.join(dir, 'state'))).toEqual(['health.json']);
  });

  it('never leaves a torn file under concurrent writers', async () => {
    const store = new QuarantineStateStore(dir);
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        store.save(healthStateFrom({ status: 'offline', retryable: true, message: 'x'.repeat(1000 * i) })),
      ),
    );
    const state = await store.load();
    expect(state?.status).toBe('offline');
    expect(await readdir(dir)).toEqual(['health.json']);
  });

  it('refuses a damaged state file instead of reading it as healthy', async () => {
    const store = new QuarantineStateStore(dir);
    await writeFile(store.file, '{"version":1,"status":"quarant');
    await expect(store.load()).rejects.toSatisfy((e) => BackupctlError.is(e) && e.code === 'INTEGRITY');
    await writeFile(store.file, JSON.stringify({ version: 1, status: 'fine', time: 'now' }));
    await expect(store.load()).rejects.toThrow(/not valid/);
  });

  it('is private to the user', async () => {
    const store = new QuarantineStateStore(dir);
    await store.save(healthStateFrom({ status: 'ok', retryable: false }));
    const { stat } = await import('node:fs/promises');
    expect((await stat(store.file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(store.file, 'utf8')).status).toBe('ok');
  });
});

describe('QuarantinedError', () => {
  it('is a BackupctlError QUARANTINED with the recovery steps for who quarantined the key', () => {
    const guard = new QuarantinedError(classifyAwsError(denyAll));
    expect(BackupctlError.is(guard)).toBe(true);
    expect(guard.code).toBe('QUARANTINED');
    expect(guard.source).toBe('environment');
    expect(guard.message).toContain('s3:PutObject on arn:aws:s3:::b/devices/laptop/config');
    expect(guard.message).toContain('arn:aws:iam::aws:policy/AWSDenyAll');
    expect(guard.resolution).toMatch(/backupctl recover/);
    expect(guard.resolution).toMatch(/AWSDenyAll/);

    const aws = new QuarantinedError({
      status: 'quarantined',
      retryable: false,
      policy: 'aws-compromised-key',
    });
    expect(aws.resolution).toMatch(/AWSCompromisedKeyQuarantine/);
    expect(aws.resolution).toMatch(/stolen/);
  });

  it('is classified back as quarantined (a wrapper keeps the AWS error as its cause)', () => {
    const wrapped = new QuarantinedError(classifyAwsError(denyAll), { cause: denyAll });
    expect(classifyAwsError(wrapped)).toMatchObject({ status: 'quarantined', policy: 'backupctl-guard' });
  });
});
