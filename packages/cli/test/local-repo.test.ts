import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeTree, makeEdgeCaseTree } from '../../../test/support/tree.js';
import { assertBuilt, type Device, makeDevice, PASSWORD } from './support/cli.js';

interface ErrorDocument {
  error: { code: string; message: string; resolution?: string };
  exitCode: number;
}

/** The error contract of --json: one document, the code, a message, and the exit code again. */
function expectErrorDocument(doc: ErrorDocument, code: string, exitCode: number): void {
  expect(doc.exitCode).toBe(exitCode);
  expect(doc.error.code).toBe(code);
  expect(typeof doc.error.message).toBe('string');
  expect(doc.error.message.length).toBeGreaterThan(0);
}

describe('the binary on a device with a local repository', () => {
  let device: Device;
  let src: string;
  let repo: string;
  let repositoryId: string;
  const snapshotIds: string[] = [];

  beforeAll(async () => {
    assertBuilt();
    device = await makeDevice();
    src = path.join(device.dir, 'src');
    repo = path.join(device.dir, 'repo');
    await makeEdgeCaseTree(src);
  });
  afterAll(async () => {
    await device?.remove();
  });

  it('init --json creates the repository and the device config (exit 0)', async () => {
    const r = await device.run(['init', '--repo', repo, '--path', src, '--no-keychain', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json<{
      repository: string;
      repositoryId: string;
      created: boolean;
      configFile: string;
      passwordSource: string;
    }>();
    expect(doc.created).toBe(true);
    expect(doc.repository).toBe(repo);
    expect(doc.repositoryId).toMatch(/^[0-9a-f]{32}$/);
    expect(doc.passwordSource).toBe('environment');
    expect(doc.configFile).toBe(path.join(device.env.BACKUPCTL_CONFIG_DIR as string, 'config.json'));
    const config = JSON.parse(await readFile(doc.configFile, 'utf8'));
    expect(config.paths).toEqual([src]);
    // The passphrase never reaches the config file.
    expect(await readFile(doc.configFile, 'utf8')).not.toContain(PASSWORD);
    repositoryId = doc.repositoryId;
  });

  it('push --json reports the snapshot id and a summary; an unchanged tree adds nothing', async () => {
    const first = await device.run(['push', '--json']);
    expect(first.code, first.stderr).toBe(0);
    const a = first.json<{
      snapshotId: string;
      paths: string[];
      summary: Record<string, number>;
      recoveredPacks: number;
      warnings: unknown[];
    }>();
    expect(a.snapshotId).toMatch(/^[0-9a-f]{64}$/);
    expect(a.paths).toEqual([src]);
    expect(a.warnings).toEqual([]);
    expect(a.recoveredPacks).toBe(0);
    expect(a.summary.files).toBe(10);
    expect(a.summary.newBytes).toBeGreaterThan(3 * 1024 * 1024);
    // copy-of-random.bin duplicates random.bin: stored once.
    expect(a.summary.newBytes).toBeLessThan(a.summary.bytes ?? 0);
    expect(a.summary.packsWritten).toBeGreaterThan(0);

    const second = await device.run(['push', '--json']);
    expect(second.code, second.stderr).toBe(0);
    const b = second.json<{ snapshotId: string; summary: Record<string, number> }>();
    expect(b.snapshotId).not.toBe(a.snapshotId);
    expect(b.summary.files).toBe(a.summary.files);
    expect(b.summary.newBytes).toBe(0);
    snapshotIds.push(a.snapshotId, b.snapshotId);
  });

  it('push prints a human summary without --json', async () => {
    const r = await device.run(['push', '--tag', 'manual']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^snapshot [0-9a-f]{8} saved$/m);
    expect(r.stdout).toMatch(/10 files/);
    expect(() => JSON.parse(r.stdout)).toThrow();
    snapshotIds.push(r.stdout.match(/snapshot ([0-9a-f]{8})/)?.[1] ?? '');
  });

  it('snapshots --json lists every snapshot, oldest first, with id, time and paths', async () => {
    const r = await device.run(['snapshots', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const list = r.json<Array<{ id: string; time: string; paths: string[]; tags: string[] }>>();
    expect(Array.isArray(list)).toBe(true);
    expect(list).toHaveLength(3);
    expect(list.map((s) => s.id).slice(0, 2)).toEqual(snapshotIds.slice(0, 2));
    expect(list[2]?.id.startsWith(snapshotIds[2] ?? '-')).toBe(true);
    expect(list[2]?.tags).toEqual(['manual']);
    for (const s of list) {
      expect(s.paths).toEqual([src]);
      expect(Number.isNaN(Date.parse(s.time))).toBe(false);
    }
    expect([...list].sort((x, y) => x.time.localeCompare(y.time))).toEqual(list);
  });

  it('restore latest brings the tree back exactly (contents, modes, mtimes, symlinks)', async () => {
    const target = path.join(device.dir, 'restored');
    const r = await device.run(['restore', 'latest', '--target', target, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json<{ snapshotId: string; files: number }>();
    expect(doc.snapshotId.startsWith(snapshotIds[2] ?? '-')).toBe(true);
    expect(doc.files).toBe(10);
    expect(await describeTree(path.join(target, src))).toEqual(await describeTree(src));
  });

  it('restore by a short id prefix of an older snapshot', async () => {
    const target = path.join(device.dir, 'restored-old');
    const r = await device.run(['restore', (snapshotIds[0] ?? '').slice(0, 8), '--target', target]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`restored snapshot ${(snapshotIds[0] ?? '').slice(0, 8)}`));
    expect(await describeTree(path.join(target, src))).toEqual(await describeTree(src));
  });

  it('check --json finds a sound repository (exit 0)', async () => {
    const r = await device.run(['check', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json<{ ok: boolean; snapshots: number; problems: unknown[]; unindexedPacks: number }>();
    expect(doc).toMatchObject({ ok: true, snapshots: 3, problems: [], unindexedPacks: 0 });
  });

  it('status --json shows the device, the repository and health.state', async () => {
    const r = await device.run(['status', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json<{
      device: { repository: string; paths: string[]; host: string; passwordSource: string };
      repository: { reachable: boolean; snapshots: number; id: string; latest?: { id: string } };
      health: { state: string };
      lastPush?: { ok: boolean };
    }>();
    expect(doc.device).toMatchObject({
      repository: repo,
      paths: [src],
      host: 'test-host',
      passwordSource: 'environment',
    });
    expect(doc.repository).toMatchObject({ reachable: true, snapshots: 3, id: repositoryId });
    expect(doc.repository.latest?.id.startsWith(snapshotIds[2] ?? '-')).toBe(true);
    expect(doc.health.state).toBe('ok');
    expect(doc.lastPush?.ok).toBe(true);
  });

  it('a wrong passphrase exits 12 with WRONG_PASSWORD and a resolution', async () => {
    const r = await device.run(['snapshots', '--json'], { BACKUPCTL_PASSWORD: 'not the passphrase' });
    expect(r.code).toBe(12);
    const doc = r.json<ErrorDocument>();
    expectErrorDocument(doc, 'WRONG_PASSWORD', 12);
    expect(doc.error.resolution).toBeTruthy();
    // Human mode: the message and the next step on stderr, nothing on stdout.
    const human = await device.run(['push'], { BACKUPCTL_PASSWORD: 'not the passphrase' });
    expect(human.code).toBe(12);
    expect(human.stdout).toBe('');
    expect(human.stderr).toMatch(/^error: .*passphrase/m);
    expect(human.stderr).toMatch(/^ {2}next: /m);
  });

  it('no passphrase at all (no env, no credential, no terminal) exits 12 with PASSWORD_MISSING', async () => {
    const r = await device.run(['push', '--json'], { BACKUPCTL_PASSWORD: undefined });
    expect(r.code).toBe(12);
    expectErrorDocument(r.json<ErrorDocument>(), 'PASSWORD_MISSING', 12);
  });

  it('push reads the passphrase from the systemd credential backupctl-password', async () => {
    const credentials = path.join(device.dir, 'credentials');
    await mkdir(credentials, { recursive: true });
    await writeFile(path.join(credentials, 'backupctl-password'), `${PASSWORD}\n`, { mode: 0o400 });
    const r = await device.run(['push', '--json'], {
      BACKUPCTL_PASSWORD: undefined,
      CREDENTIALS_DIRECTORY: credentials,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json<{ snapshotId: string }>().snapshotId).toMatch(/^[0-9a-f]{64}$/);

    // The credential really is what opens the repository: a wrong one is refused.
    const wrong = path.join(device.dir, 'credentials-wrong');
    await mkdir(wrong, { recursive: true });
    await writeFile(path.join(wrong, 'backupctl-password'), 'wrong passphrase\n');
    const refused = await device.run(['push', '--json'], {
      BACKUPCTL_PASSWORD: undefined,
      CREDENTIALS_DIRECTORY: wrong,
    });
    expect(refused.code).toBe(12);
    expectErrorDocument(refused.json<ErrorDocument>(), 'WRONG_PASSWORD', 12);
  });

  it('a push while another holds the lock exits 11 (REPO_LOCKED)', async () => {
    const lock = path.join(device.env.BACKUPCTL_CACHE_DIR as string, repositoryId, 'lock');
    // A lock held by a live process on this host: the test runner itself.
    await writeFile(
      lock,
      JSON.stringify({
        pid: process.pid,
        host: (await import('node:os')).hostname(),
        started: new Date().toISOString(),
        operation: 'push',
      }),
    );
    try {
      const r = await device.run(['push', '--json']);
      expect(r.code).toBe(11);
      expectErrorDocument(r.json<ErrorDocument>(), 'REPO_LOCKED', 11);
    } finally {
      await (await import('node:fs/promises')).rm(lock, { force: true });
    }
  });

  it('no device config exits 10 (CONFIG_MISSING) and says to run init', async () => {
    const r = await device.run(['push', '--json'], {
      BACKUPCTL_CONFIG_DIR: path.join(device.dir, 'no-config-here'),
    });
    expect(r.code).toBe(10);
    const doc = r.json<ErrorDocument>();
    expectErrorDocument(doc, 'CONFIG_MISSING', 10);
    expect(doc.error.resolution).toMatch(/backupctl init/);
  });

  it('an unknown flag exits 2, with and without --json', async () => {
    const human = await device.run(['push', '--no-such-flag']);
    expect(human.code).toBe(2);
    expect(human.stderr).toMatch(/Nonexistent flag: --no-such-flag/);
    expect(human.stderr).toMatch(/see: backupctl push --help/);
    const json = await device.run(['snapshots', '--json', '--no-such-flag']);
    expect(json.code).toBe(2);
    expectErrorDocument(json.json<ErrorDocument>(), 'USAGE', 2);
  });

  it('a missing argument or required flag exits 2', async () => {
    const noArg = await device.run(['restore', '--target', path.join(device.dir, 'x'), '--json']);
    expect(noArg.code).toBe(2);
    expect(noArg.json<ErrorDocument>().error.message).toMatch(/Missing 1 required arg/);
    const noFlag = await device.run(['restore', 'latest']);
    expect(noFlag.code).toBe(2);
    expect(noFlag.stderr).toMatch(/Missing required flag target/);
  });

  it('a snapshot that does not exist is an error, not a crash (exit 1, SNAPSHOT_NOT_FOUND)', async () => {
    const r = await device.run(['restore', 'ffffffff', '--target', path.join(device.dir, 'y'), '--json']);
    expect(r.code).toBe(1);
    expectErrorDocument(r.json<ErrorDocument>(), 'SNAPSHOT_NOT_FOUND', 1);
  });
});
