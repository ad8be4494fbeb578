import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Device, makeDevice } from './support/cli.js';

interface StatusDoc {
  repository: {
    reachable: boolean;
    snapshots?: number;
    size?: { packs: number; storedBytes: number; snapshotBytes: number; dedupRatio: number };
  };
  health: { state: string };
  schedule: { installed: boolean; lastSuccess?: string; overdue: boolean };
  warnings: string[];
}

const LOCAL_TIME = /\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} (CET|CEST) \(\d+ s ago\)/;

describe('status and doctor on a local repository', () => {
  let device: Device;
  let data: string;
  beforeAll(async () => {
    device = await makeDevice();
    data = path.join(device.dir, 'data');
    await mkdir(data);
    for (let i = 0; i < 4; i++) await writeFile(path.join(data, `f${i}`), `file ${i} `.repeat(5000));
    const init = await device.run([
      'init',
      '--repo',
      path.join(device.dir, 'repo'),
      '--path',
      data,
      '--no-keychain',
    ]);
    expect(init.code, init.stderr).toBe(0);
  });
  afterAll(() => device.remove());

  it('not set up: status and doctor exit 10 and say `backupctl init`', async () => {
    const env = { BACKUPCTL_CONFIG_DIR: path.join(device.dir, 'none') };
    const status = await device.run(['status'], env);
    expect(status.code).toBe(10);
    expect(status.stderr).toMatch(/next: Run `backupctl init/);
    const doctor = await device.run(['doctor'], env);
    expect(doctor.code).toBe(10);
    expect(doctor.stdout).toMatch(/^FAIL\s+config\s+this device is not set up/m);
  });

  it('the dashboard: snapshots, size with dedup ratio, last push and last ok in local time, next run', async () => {
    for (let i = 0; i < 2; i++) expect((await device.run(['push', '-q'])).code).toBe(0);
    const r = await device.run(['status'], { TZ: 'Europe/Berlin' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^snapshots\\s+2, latest [0-9a-f]{8} at ${LOCAL_TIME.source}`, 'm'));
    expect(r.stdout).toMatch(
      /^size\s+[\d.]+ KiB stored in \d+ packs; the snapshots hold [\d.]+ KiB \(dedup ratio [\d.]+x\)$/m,
    );
    expect(r.stdout).toMatch(new RegExp(`^last push\\s+${LOCAL_TIME.source} ok$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^last ok\\s+${LOCAL_TIME.source}$`, 'm'));
    expect(r.stdout).toMatch(/^next run\s+no schedule \(`backupctl schedule install`\)$/m);
    // A local repository has no guard and no AWS health to speak of.
    expect(r.stdout).not.toMatch(/^(guard|health)/m);
    const doc = (await device.run(['status', '--json'])).json<StatusDoc>();
    const size = doc.repository.size;
    expect(size?.snapshotBytes).toBe(2 * 4 * 'file 0 '.length * 5000);
    // Two identical snapshots: the stored size is about half of what they hold.
    expect(size?.dedupRatio).toBeGreaterThan(1.5);
    expect(size?.dedupRatio).toBe(
      Math.round(((size?.snapshotBytes ?? 0) / (size?.storedBytes ?? 1)) * 10) / 10,
    );
  });

  it('a failed push keeps the last successful one', async () => {
    const before = (await device.run(['status', '--json'])).json<StatusDoc>().schedule.lastSuccess;
    const failed = await device.run(['push'], { BACKUPCTL_PASSWORD: 'wrong' });
    expect(failed.code).toBe(12);
    const r = await device.run(['status', '--json']);
    const doc = r.json<StatusDoc & { lastPush: { ok: boolean } }>();
    expect(doc.lastPush.ok).toBe(false);
    expect(doc.schedule.lastSuccess).toBe(before);
  });

  it('warns when the last successful push is older than twice the schedule', async () => {
    const schedule = path.join(device.env.BACKUPCTL_CONFIG_DIR as string, 'schedule.json');
    const last = path.join(device.env.BACKUPCTL_CACHE_DIR as string, 'last-push.json');
    const threeHoursAgo = new Date(Date.now() - 3 * 3600_000).toISOString();
    await writeFile(
      schedule,
      JSON.stringify({
        scope: 'user',
        onCalendar: 'hourly',
        intervalSeconds: 3600,
        credentials: 'keychain',
        unitDirectory: '/x',
        units: [],
        installed: threeHoursAgo,
      }),
    );
    await writeFile(
      last,
      JSON.stringify({
        operation: 'push',
        finished: threeHoursAgo,
        ok: true,
        snapshotId: 'x',
        lastSuccess: threeHoursAgo,
      }),
    );
    try {
      const r = await device.run(['status'], { PATH: path.dirname(process.execPath) });
      expect(r.stderr).toMatch(
        /^warning: the last successful push is older than twice the schedule \(2 h\)/m,
      );
      const journal = await device.run(['status'], {
        PATH: path.dirname(process.execPath),
        JOURNAL_STREAM: '8:1234',
      });
      // Under systemd: the journal's warning priority.
      expect(journal.stderr).toMatch(/^<4>warning: the last successful push/m);
    } finally {
      await rm(schedule);
    }
  });

  it('the repository gone: "unreachable", its exit code, and no health line', async () => {
    const env = { BACKUPCTL_CONFIG_DIR: path.join(device.dir, 'moved') };
    await mkdir(env.BACKUPCTL_CONFIG_DIR, { recursive: true });
    await writeFile(
      path.join(env.BACKUPCTL_CONFIG_DIR, 'config.json'),
      JSON.stringify({
        version: 1,
        repository: path.join(device.dir, 'gone'),
        paths: [],
        excludes: [],
        passwordSource: 'environment',
      }),
    );
    const r = await device.run(['status'], env);
    expect(r.code).toBe(10);
    expect(r.stdout).toMatch(/^unreachable\s+/m);
    expect(r.stdout).not.toMatch(/health\s+ok/);
  });
});

describe('status and doctor on a guarded (S3) device', () => {
  let device: Device;
  let closedPort: number;
  beforeAll(async () => {
    device = await makeDevice();
    // A port nothing listens on: "offline", quickly.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closedPort = (server.address() as { port: number }).port;
    await new Promise((resolve) => server.close(resolve));
    const config = device.env.BACKUPCTL_CONFIG_DIR as string;
    await mkdir(config, { recursive: true });
    await writeFile(
      path.join(config, 'config.json'),
      JSON.stringify({
        version: 1,
        repository: 's3://backups/laptop',
        endpoint: `http://127.0.0.1:${closedPort}`,
        paths: [],
        excludes: [],
        passwordSource: 'environment',
        device: 'laptop',
      }),
    );
  });
  afterAll(() => device.remove());
  // The device key (a device never signs with the SDK's default chain).
  const keys = {
    BACKUPCTL_AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
    BACKUPCTL_AWS_SECRET_ACCESS_KEY: 'x',
    AWS_EC2_METADATA_DISABLED: 'true',
  };

  it('offline: health offline (checked now), never "ok", exit 23', async () => {
    const r = await device.run(['status'], keys);
    expect(r.code, r.stdout + r.stderr).toBe(23);
    expect(r.stdout).toMatch(/^unreachable\s+the storage could not be reached/m);
    expect(r.stdout).toMatch(/^health\s+offline \(checked now\)$/m);
    expect(r.stdout).not.toMatch(/\bok\b.*\n?.*unreachable|health\s+ok/);
  });

  it('quarantined (saved): exit 20, QUARANTINED with the steps, no request; doctor says the same', async () => {
    const cache = device.env.BACKUPCTL_CACHE_DIR as string;
    await mkdir(cache, { recursive: true });
    await writeFile(
      path.join(cache, 'health.json'),
      JSON.stringify({
        version: 1,
        status: 'quarantined',
        time: new Date(Date.now() - 60_000).toISOString(),
        request: { action: 's3:PutObject', resource: 'arn:aws:s3:::backups/laptop/data/x' },
        message:
          'User: arn:aws:iam::111122223333:user/backupctl-laptop is not authorized to perform: s3:PutObject with an explicit deny in an identity-based policy',
        policy: 'backupctl-guard',
      }),
    );
    const trace = path.join(device.dir, 'trace');
    const r = await device.run(['status'], { ...keys, TZ: 'UTC', BACKUPCTL_AWS_TRACE: trace });
    expect(r.code, r.stderr).toBe(20);
    expect(r.stdout).toMatch(
      /^guard\s+QUARANTINED \(since \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC \(1 min ago\)\)$/m,
    );
    expect(r.stdout).toMatch(/^QUARANTINED since/m);
    expect(r.stdout).not.toMatch(/health\s+ok/);
    await expect(import('node:fs/promises').then((fs) => fs.readFile(trace, 'utf8'))).rejects.toThrow();
    const doctor = await device.run(['doctor'], keys);
    expect(doctor.code).toBe(20);
    expect(doctor.stdout).toMatch(/^FAIL\s+bucket\s+QUARANTINED since/m);
    // Without admin credentials the guard and trail checks are skipped — never the device key.
    expect(doctor.stdout).toMatch(/^skip\s+guard\s+needs the owner's admin credentials/m);
    expect(doctor.stdout).toMatch(/fix: Run `backupctl doctor --admin-profile PROFILE`/);
  });
});
