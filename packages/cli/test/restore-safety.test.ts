import { createHash, randomBytes, randomInt } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { unprivilegedUserCannotReachBinary } from '../../../test/support/run-backupctl.js';
import { describeTree } from '../../../test/support/tree.js';
import { assertBuilt, type Device, makeDevice, spawnCli } from './support/cli.js';

beforeAll(() => assertBuilt());

let device: Device | undefined;
afterEach(async () => {
  await device?.remove();
  device = undefined;
});

/** Root ignores modes: every command runs as uid 65534 when the tests run as root. */
const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
const unreachable = unprivilegedUserCannotReachBinary();
const skipped = unreachable ? ` (skipped: ${unreachable})` : '';

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A device whose source folder holds read-only files and folders, as a user's would. */
async function setUp(): Promise<{ device: Device; src: string; repo: string; target: string }> {
  const d = await makeDevice({ mode: 0o777 });
  const src = path.join(d.dir, 'src');
  const repo = path.join(d.dir, 'repo');
  await mkdir(path.join(src, 'ro-dir'), { recursive: true, mode: 0o777 });
  await chmod(src, 0o777);
  await writeFile(path.join(src, 'big.bin'), randomBytes(6 * 1024 * 1024 + 3));
  await writeFile(path.join(src, 'ro-dir', 'inside.txt'), 'inside\n');
  await writeFile(path.join(src, 'readonly.txt'), 'read only\n');
  for (let i = 0; i < 40; i++)
    await writeFile(path.join(src, `small-${i}.txt`), randomBytes(randomInt(1, 5000)));
  await chmod(path.join(src, 'readonly.txt'), 0o444);
  await chmod(path.join(src, 'ro-dir', 'inside.txt'), 0o444);
  await chmod(path.join(src, 'ro-dir'), 0o555);
  if (asUser.uid !== undefined) {
    const { execFileSync } = await import('node:child_process');
    execFileSync('chown', ['-R', `${asUser.uid}:${asUser.gid}`, src]);
  }
  const init = await d.run(['init', '--repo', repo, '--path', src, '--no-keychain', '--json'], {}, asUser);
  expect(init.code, init.stderr).toBe(0);
  const push = await d.run(['push', '--json'], {}, asUser);
  expect(push.code, push.stderr).toBe(0);
  return { device: d, src, repo, target: path.join(d.dir, 'restored') };
}

describe.skipIf(unreachable !== undefined)(`re-running a restore (as a non-root user)${skipped}`, () => {
  it('a second restore into the same target keeps every file, read-only ones included', async () => {
    const s = await setUp();
    device = s.device;
    const expected = await describeTree(s.src);
    const first = await device.run(['restore', 'latest', '--target', s.target], {}, asUser);
    expect(first.code, first.stderr).toBe(0);
    const second = await device.run(['restore', 'latest', '--target', s.target, '--json'], {}, asUser);
    expect(second.code, second.stderr).toBe(0);
    expect(second.json<{ unchanged: number }>().unchanged).toBe(43);
    expect(await describeTree(path.join(s.target, s.src))).toEqual(expected);
    // And with every file rewritten.
    const always = await device.run(
      ['restore', 'latest', '--target', s.target, '--overwrite', 'always', '--verify'],
      {},
      asUser,
    );
    expect(always.code, always.stderr).toBe(0);
    expect(always.stdout).toMatch(/43 files verified/);
    expect(await describeTree(path.join(s.target, s.src))).toEqual(expected);
  });

  it('a file that differs is left untouched and named (exit 27) unless --overwrite says so', async () => {
    const s = await setUp();
    device = s.device;
    expect((await device.run(['restore', 'latest', '--target', s.target], {}, asUser)).code).toBe(0);
    const mine = path.join(s.target, s.src, 'small-3.txt');
    await writeFile(mine, 'my own edit\n');
    const never = await device.run(['restore', 'latest', '--target', s.target], {}, asUser);
    expect(never.code, never.stderr).toBe(27);
    expect(never.stderr).toContain(`left in place: ${path.join(s.src, 'small-3.txt')}`);
    expect(await readFile(mine, 'utf8')).toBe('my own edit\n');
    const ifChanged = await device.run(
      ['restore', 'latest', '--target', s.target, '--overwrite', 'if-changed'],
      {},
      asUser,
    );
    expect(ifChanged.code, ifChanged.stderr).toBe(0);
    expect(await describeTree(path.join(s.target, s.src))).toEqual(await describeTree(s.src));
  });

  it('random-point SIGKILLs of a restore, then a re-run: bit-exact', async () => {
    const s = await setUp();
    device = s.device;
    const expected = await describeTree(s.src);
    let killed = 0;
    for (let i = 0; i < 6; i++) {
      const running = spawnCli(['restore', 'latest', '--target', s.target], { env: device.env, ...asUser });
      // A whole restore of this tree takes ~0.4 s now that start-up loads no AWS SDK: kill inside it.
      const delay = randomInt(100, 400);
      const timer = setTimeout(() => running.child.kill('SIGKILL'), delay);
      const r = await running.result;
      clearTimeout(timer);
      if (r.signal === 'SIGKILL') killed++;
      // Never a full-size file under its real name with the wrong bytes.
      const big = path.join(s.target, s.src, 'big.bin');
      const st = await lstat(big).catch(() => undefined);
      if (st) expect(sha(await readFile(big))).toBe(expected.get('big.bin')?.sha256);
    }
    expect(killed, 'no restore was killed before its end').toBeGreaterThan(0);
    const rerun = await device.run(['restore', 'latest', '--target', s.target], {}, asUser);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(await describeTree(path.join(s.target, s.src))).toEqual(expected);
    // No temporary file is left behind.
    expect((await filesUnder(s.target)).filter((f) => f.endsWith('.backupctl-restore'))).toEqual([]);
  });
});

describe.skipIf(unreachable !== undefined)(
  `a damaged pack: the rest is restored and what failed is named (exit 26)${skipped}`,
  () => {
    it('files whose data is damaged are not restored under their name; the others are', async () => {
      const s = await setUp();
      device = s.device;
      const before = new Set(await filesUnder(path.join(s.repo, 'data')));
      await writeFile(path.join(s.src, 'later.bin'), randomBytes(300_000));
      expect((await device.run(['push'], {}, asUser)).code).toBe(0);
      const added = (await filesUnder(path.join(s.repo, 'data'))).filter((p) => !before.has(p));
      const sizes = await Promise.all(added.map(async (p) => (await stat(p)).size));
      const pack = added[sizes.indexOf(Math.max(...sizes))] as string;
      const bytes = await readFile(pack);
      bytes[100] = (bytes[100] ?? 0) ^ 0xff;
      await chmod(pack, 0o644);
      await writeFile(pack, bytes);

      const r = await device.run(['restore', 'latest', '--target', s.target, '--json'], {}, asUser);
      expect(r.code, r.stderr).toBe(26);
      const doc = r.json<{ failed: Array<{ path: string; reason: string }> }>();
      expect(doc.failed.map((f) => f.path)).toEqual([path.join(s.src, 'later.bin')]);
      expect(doc.failed[0]?.reason).toMatch(/damaged/);
      expect(doc.failed[0]?.reason).toContain(path.basename(pack));
      await expect(lstat(path.join(s.target, s.src, 'later.bin'))).rejects.toThrow(/ENOENT/);
      const restored = await describeTree(path.join(s.target, s.src));
      const source = await describeTree(s.src);
      source.delete('later.bin');
      expect(restored).toEqual(source);
      expect((await filesUnder(s.target)).filter((f) => f.endsWith('.backupctl-restore'))).toEqual([]);
    });
  },
);

describe.skipIf(unreachable !== undefined)(`hostile input${skipped}`, () => {
  it('an empty --target is refused with a clear message (exit 2)', async () => {
    const s = await setUp();
    device = s.device;
    const r = await device.run(['restore', 'latest', '--target='], {}, asUser);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--target is empty/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
