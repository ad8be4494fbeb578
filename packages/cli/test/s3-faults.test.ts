import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type S3FaultProxy, startS3FaultProxy } from '../../../test/fixtures/s3-fault-proxy.js';
import { type S3Server, startS3Server } from '../../../test/fixtures/s3-server.js';
import { assertBuilt, type Device, makeDevice } from './support/cli.js';

/**
 * The S3 fault proxy in front of s3rver (issue 11, items 8 and 9): transient faults are
 * retried and the push completes; a server that never answers or a body that stalls ends
 * in exit 23 (offline) in bounded time — never a hang, never "damage" (25), never a stack
 * trace — and the device's health is then not recorded as ok.
 */
const BUCKET = 'faults';
const aws = {
  BACKUPCTL_AWS_ACCESS_KEY_ID: 'S3RVER',
  BACKUPCTL_AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_REGION: 'us-east-1',
};
// Short idle timeout so a hang costs a second, not a minute.
const FAST_TIMEOUT = { ...aws, BACKUPCTL_S3_TIMEOUT_MS: '400' };

describe('S3 faults, through a fault proxy', () => {
  let s3: S3Server;
  let proxy: S3FaultProxy;
  let device: Device;
  let src: string;
  let n = 0;

  beforeAll(async () => {
    assertBuilt();
    s3 = await startS3Server();
    await s3.createBucket(BUCKET);
    proxy = await startS3FaultProxy(s3.endpoint);
  });
  afterAll(async () => {
    await proxy?.stop();
    await s3?.stop();
  });
  afterEach(async () => {
    proxy.clear();
    await device?.remove();
  });

  /** A device set up on its own prefix, with a first snapshot. */
  async function setUp(): Promise<void> {
    device = await makeDevice();
    src = path.join(device.dir, 'src');
    await mkdir(path.join(src, 'sub'), { recursive: true });
    await writeFile(path.join(src, 'big.bin'), randomBytes(600_000));
    await writeFile(path.join(src, 'sub', 'note.txt'), 'note');
    const repo = `s3://${BUCKET}/dev-${n++}`;
    const init = await device.run(
      ['init', '--repo', repo, '--endpoint', proxy.endpoint, '--path', src, '--no-keychain', '--json'],
      aws,
    );
    expect(init.code, init.stderr).toBe(0);
    const push = await device.run(['push', '--json'], aws);
    expect(push.code, push.stderr).toBe(0);
  }

  const healthFile = () =>
    readFile(path.join(device.env.BACKUPCTL_CACHE_DIR!, 'health.json'), 'utf8').catch(() => '');

  for (const fault of ['500', '503', 'reset', 'no-answer', 'cut-body', 'reset-body'] as const) {
    it(`a push through every 3rd request failing with ${fault} completes (retried)`, async () => {
      await setUp();
      await writeFile(path.join(src, 'new.bin'), randomBytes(300_000));
      proxy.add({ fault, every: 3, times: 4 });
      const before = proxy.injected[fault];
      const push = await device.run(['push', '--json'], FAST_TIMEOUT);
      expect(push.code, push.stderr).toBe(0);
      expect(proxy.injected[fault]).toBeGreaterThan(before);
      proxy.clear();
      const check = await device.run(['check', '--read-data', '--json'], aws);
      expect(check.code, check.stdout + check.stderr).toBe(0);
    });
  }

  it('a server that never answers: push exits 23 (offline) after its retries, no hang', async () => {
    await setUp();
    await writeFile(path.join(src, 'new.bin'), randomBytes(100_000));
    proxy.add({ fault: 'no-answer' });
    const push = await device.run(['push', '--json'], FAST_TIMEOUT);
    expect(push.code, push.stderr).toBe(23);
    expect(push.json<{ error: { code: string } }>().error.code).toBe('OFFLINE');
    expect(push.stderr).not.toMatch(/\n\s+at /);
  });

  it('a stalled PUT: push exits 23', async () => {
    await setUp();
    await writeFile(path.join(src, 'new.bin'), randomBytes(100_000));
    proxy.add({ fault: 'no-answer', method: 'PUT' });
    const push = await device.run(['push'], FAST_TIMEOUT);
    expect(push.code, push.stderr).toBe(23);
    expect(push.stderr).toMatch(/could not be reached|offline|failed/i);
  });

  it('check --read-data with every pack body cut off: exit 23 (offline), not 25, health not ok', async () => {
    await setUp();
    proxy.add({ fault: 'cut-body', method: 'GET', path: /\/data\// });
    const check = await device.run(['check', '--read-data', '--json'], FAST_TIMEOUT);
    expect(check.code, check.stdout + check.stderr).toBe(23);
    expect(check.json<{ error: { code: string } }>().error.code).toBe('OFFLINE');
    expect(check.stderr).not.toMatch(/\n\s+at /);
    expect(await healthFile()).not.toMatch(/"status":\s*"ok"/);
  });

  it('check --read-data with the tree pack unreachable (reset): exit 23, no stack trace', async () => {
    await setUp();
    proxy.add({ fault: 'reset', method: 'GET', path: /\/data\// });
    const check = await device.run(['check', '--read-data'], aws);
    expect(check.code, check.stdout + check.stderr).toBe(23);
    expect(check.stderr).not.toMatch(/\n\s+at /);
    expect(check.stderr).not.toMatch(/Unhandled|TypeError/);
  });

  it('a connection reset mid-body on every 2nd GET of packs, index files and snapshots: check --read-data and restore complete (body reads retried)', async () => {
    await setUp();
    proxy.add({ fault: 'reset-body', method: 'GET', path: /\/(data|index|snapshots)\//, every: 2 });
    const check = await device.run(['check', '--read-data', '--json'], aws);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    const afterCheck = proxy.injected['reset-body'];
    expect(afterCheck).toBeGreaterThan(0);
    // From an empty cache, the restore reads index files and snapshots from the bucket too.
    await rm(device.env.BACKUPCTL_CACHE_DIR!, { recursive: true, force: true });
    const out = path.join(device.dir, 'out');
    const restore = await device.run(['restore', 'latest', '--target', out], aws);
    expect(restore.code, restore.stderr).toBe(0);
    expect(proxy.injected['reset-body']).toBeGreaterThan(afterCheck);
    expect(await readFile(path.join(out, src, 'sub', 'note.txt'), 'utf8')).toBe('note');
  });

  for (const [what, where] of [
    ['pack', /\/data\//],
    ['index file', /\/index\//],
    ['snapshot', /\/snapshots\//],
  ] as const) {
    it(`every ${what} GET reset mid-body: check --read-data exits 23 (offline), never 25, health not ok`, async () => {
      await setUp();
      expect(await healthFile()).toMatch(/"ok"/);
      proxy.add({ fault: 'reset-body', method: 'GET', path: where });
      const check = await device.run(['check', '--read-data', '--json'], aws);
      expect(check.code, check.stdout + check.stderr).toBe(23);
      expect(check.json<{ error: { code: string; message: string } }>().error).toMatchObject({
        code: 'OFFLINE',
        message: expect.stringContaining('mid-transfer'),
      });
      expect(check.stderr).not.toMatch(/\n\s+at /);
      expect(proxy.injected['reset-body']).toBeGreaterThanOrEqual(3);
      expect(await healthFile()).not.toMatch(/"status":\s*"ok"/);
    });
  }

  it('restore with every pack GET reset mid-body: exit 23, not 26 (nothing reported as damaged)', async () => {
    await setUp();
    proxy.add({ fault: 'reset-body', method: 'GET', path: /\/data\// });
    const restore = await device.run(['restore', 'latest', '--target', path.join(device.dir, 'out')], aws);
    expect(restore.code, restore.stderr).toBe(23);
    expect(restore.stderr).not.toMatch(/damaged/);
  });

  it('restore with pack bodies stalling: exit 23, no stack trace', async () => {
    await setUp();
    proxy.add({ fault: 'cut-body', method: 'GET', path: /\/data\// });
    const restore = await device.run(
      ['restore', 'latest', '--target', path.join(device.dir, 'out')],
      FAST_TIMEOUT,
    );
    expect(restore.code, restore.stderr).toBe(23);
    expect(restore.stderr).not.toMatch(/\n\s+at /);
  });
});
