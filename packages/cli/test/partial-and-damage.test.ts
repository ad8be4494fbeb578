import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { unprivilegedUserCannotReachBinary } from '../../../test/support/run-backupctl.js';
import { assertBuilt, type Device, makeDevice } from './support/cli.js';

interface PushDocument {
  snapshotId: string;
  summary: Record<string, number>;
  warnings: Array<{ path: string; message: string }>;
}

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

beforeAll(() => assertBuilt());

let device: Device | undefined;
afterEach(async () => {
  await device?.remove();
  device = undefined;
});

/**
 * Root reads any file whatever its mode, so `chmod 000` alone proves nothing when the
 * tests run as root (as in this container): there, every command of the test runs as
 * the unprivileged uid 65534, for which a mode-000 file really is unreadable.
 */
const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

const unreachable = unprivilegedUserCannotReachBinary();

describe('exit 3: the snapshot was written, but some files could not be read', () => {
  it.skipIf(unreachable !== undefined)(
    `a file the user cannot read is reported, the rest is backed up, and push exits 3${unreachable ? ` (skipped: ${unreachable})` : ''}`,
    async () => {
      device = await makeDevice({ mode: 0o777 });
      const src = path.join(device.dir, 'src');
      await mkdir(src, { recursive: true });
      await chmod(src, 0o755);
      await writeFile(path.join(src, 'readable.txt'), 'readable\n', { mode: 0o644 });
      await writeFile(path.join(src, 'unreadable.txt'), 'secret\n');
      await chmod(path.join(src, 'unreadable.txt'), 0o000);
      const init = await device.run(
        ['init', '--repo', path.join(device.dir, 'repo'), '--path', src, '--no-keychain', '--json'],
        {},
        asUser,
      );
      expect(init.code, init.stderr).toBe(0);

      const r = await device.run(['push', '--json'], {}, asUser);
      expect(r.code, r.stderr).toBe(3);
      // Exactly one JSON document: the result, not an error on top of it.
      const doc = r.json<PushDocument>();
      expect(doc.snapshotId).toMatch(/^[0-9a-f]{64}$/);
      expect(doc.warnings).toHaveLength(1);
      expect(doc.warnings[0]?.path).toBe(path.join(src, 'unreadable.txt'));
      expect(doc.warnings[0]?.message).toMatch(/EACCES|permission denied/i);
      expect(doc.summary.files).toBe(1);

      const human = await device.run(['push'], {}, asUser);
      expect(human.code).toBe(3);
      expect(human.stderr).toMatch(/warning: .*unreadable\.txt: .*permission denied/i);
      expect(human.stdout).toMatch(/1 path\(s\) could not be read/);

      // The snapshot was committed with what could be read.
      const target = path.join(device.dir, 'restored');
      const restore = await device.run(['restore', 'latest', '--target', target], {}, asUser);
      expect(restore.code, restore.stderr).toBe(0);
      expect(await readFile(path.join(target, src, 'readable.txt'), 'utf8')).toBe('readable\n');
      expect(await readdir(path.join(target, src))).toEqual(['readable.txt']);
    },
  );
});

describe('special files (FIFO)', () => {
  async function pushTreeWithFifo(): Promise<{ code: number | null; doc: PushDocument; src: string }> {
    device = await makeDevice();
    const src = path.join(device.dir, 'src');
    await mkdir(src, { recursive: true });
    await writeFile(path.join(src, 'a.txt'), 'a\n');
    execFileSync('mkfifo', [path.join(src, 'pipe')]);
    const init = await device.run([
      'init',
      '--repo',
      path.join(device.dir, 'repo'),
      '--path',
      src,
      '--no-keychain',
    ]);
    expect(init.code, init.stderr).toBe(0);
    // Reading a FIFO would block for ever: the push finishing at all is part of the test.
    const r = await device.run(['push', '--json']);
    return { code: r.code, doc: r.json<PushDocument>(), src };
  }

  it('a FIFO is skipped (never opened: the push does not hang) and the rest is backed up', async () => {
    const { code, doc, src } = await pushTreeWithFifo();
    expect(code).toBe(0);
    expect(doc.snapshotId).toMatch(/^[0-9a-f]{64}$/);
    expect(doc.summary.files).toBe(1);
    expect(doc.summary.skipped).toBe(0);
    const target = path.join(device?.dir ?? '', 'restored');
    const restore = await device?.run(['restore', 'latest', '--target', target]);
    expect(restore?.code).toBe(0);
    expect(await readdir(path.join(target, src))).toEqual(['a.txt']);
  });

  // Exit 3 means "data that should be in the snapshot could not be read" (restic's
  // meaning). A FIFO or socket has no data: it is skipped without a warning, so a home
  // folder holding a socket does not make every hourly push exit 3.
  it('a FIFO does not make the push partial (exit 0, no warning)', async () => {
    const { code, doc } = await pushTreeWithFifo();
    expect(doc.warnings).toEqual([]);
    expect(code).toBe(0);
    expect(doc.summary.special).toBe(1);
  });
});

describe('exit 25: check --read-data finds a damaged pack', () => {
  it('a flipped byte in a pack is invisible to check and caught by check --read-data', async () => {
    device = await makeDevice();
    const src = path.join(device.dir, 'src');
    const repo = path.join(device.dir, 'repo');
    await mkdir(src, { recursive: true });
    await writeFile(path.join(src, 'data.bin'), randomBytes(200_000));
    expect((await device.run(['init', '--repo', repo, '--path', src, '--no-keychain'])).code).toBe(0);
    const push = await device.run(['push']);
    expect(push.code, push.stderr).toBe(0);
    expect((await device.run(['check', '--read-data'])).code).toBe(0);

    // Two packs: the file's data, and the snapshot's trees (kept in packs of their own).
    const packs = await filesUnder(path.join(repo, 'data'));
    expect(packs).toHaveLength(2);
    const sizes = await Promise.all(packs.map(async (p) => (await readFile(p)).length));
    const pack = packs[sizes.indexOf(Math.max(...sizes))] as string;
    const bytes = await readFile(pack);
    // Blobs come first in a pack (its header is at the end), so byte 100 lies in the
    // file's data, which plain `check` does not read.
    bytes[100] = (bytes[100] as number) ^ 0x01;
    await writeFile(pack, bytes);

    const structural = await device.run(['check', '--json']);
    expect(structural.code, structural.stdout).toBe(0);
    expect(structural.json<{ ok: boolean }>().ok).toBe(true);

    const r = await device.run(['check', '--read-data', '--json']);
    expect(r.code).toBe(25);
    const doc = r.json<{
      ok: boolean;
      packsRead: number;
      problems: Array<{ kind: string; message: string }>;
    }>();
    expect(doc.ok).toBe(false);
    expect(doc.packsRead).toBe(2); // the data pack and the tree pack
    expect(doc.problems.map((p) => p.kind)).toContain('damaged-pack');
    expect(doc.problems.some((p) => p.message.includes(path.basename(pack)))).toBe(true);

    const human = await device.run(['check', '--read-data']);
    expect(human.code).toBe(25);
    expect(human.stdout).toMatch(/^problem: pack [0-9a-f]{64}/m);
    expect(human.stdout).toMatch(/problem\(s\) found/);
  });
});
