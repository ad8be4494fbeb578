import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { push } from '../../src/operations/push.js';
import { restore } from '../../src/operations/restore.js';
import { keys } from '../../src/repository/format.js';
import { loadIndex } from '../../src/repository/index-sync.js';
import { RestorePool } from '../../src/restore/restore-pool.js';
import { TMP_SUFFIX, tmpNameFor } from '../../src/restore/safe-fs.js';
import { isRestoredTime } from '../../src/restore/utime-precision.js';
import { craftSnapshot, listAll, localRepo, tmp } from './helpers.js';

/*
 * The restore workers (restore/restore-worker.ts) open blobs and write files off the main
 * thread. The same snapshot restored with them and without them (limits.workers 0: the
 * main thread's path) must give the same tree, byte for byte, with the same modes and
 * times; and the workers keep every guarantee of the main thread's path.
 */

const text = (n: number, seed: number) =>
  Buffer.from(Array.from({ length: n }, (_, i) => String.fromCharCode(97 + ((i * seed) % 26))).join(''));

/** Many small files (compressible and not, duplicates), modes, times, sparse and large files. */
async function buildTree(src: string): Promise<void> {
  const modes = [0o644, 0o600, 0o755, 0o444, 0o640];
  for (let d = 0; d < 6; d++) {
    const dir = path.join(src, `d${d}`);
    await fs.mkdir(dir, { recursive: true });
    for (let f = 0; f < 60; f++) {
      const file = path.join(dir, `f${f}`);
      const data = f % 3 === 0 ? randomBytes(100 + f * 50) : text(200 + f * 40, d * 7 + f);
      await fs.writeFile(file, data);
      await fs.chmod(file, modes[f % modes.length]!);
      // Times to the microsecond, some before 1970.
      const us = BigInt(f % 7 === 0 ? -86_400_000_123 : 1_600_000_000_000_000 + d * 1_000_003 + f * 17);
      await fs.utimes(file, Number(us) / 1e6, Number(us) / 1e6);
    }
    // The same bytes in several files (one blob, several whole files).
    await fs.writeFile(path.join(dir, 'dup-a'), text(999, 3));
    await fs.writeFile(path.join(dir, 'dup-b'), text(999, 3));
  }
  await fs.writeFile(path.join(src, 'empty'), '');
  await fs.writeFile(path.join(src, 'zeros-small'), Buffer.alloc(5000));
  // Files of many chunks: random, compressible, and one with all-zero chunks in the middle.
  await fs.writeFile(path.join(src, 'big-random.bin'), randomBytes(900_000));
  await fs.writeFile(path.join(src, 'big-text.txt'), text(1_200_000, 11));
  await fs.writeFile(
    path.join(src, 'big-sparse.bin'),
    Buffer.concat([randomBytes(100_000), Buffer.alloc(700_000), randomBytes(100_000)]),
  );
  await fs.chmod(path.join(src, 'big-text.txt'), 0o400);
  await fs.chmod(path.join(src, 'd2'), 0o555);
}

interface Described {
  type: string;
  mode: number;
  mtimeNs: bigint;
  size: number;
  sha?: string;
}

async function describe_(root: string): Promise<Map<string, Described>> {
  const out = new Map<string, Described>();
  for (const rel of await listAll(root)) {
    const p = path.join(root, rel);
    const st = await fs.lstat(p, { bigint: true });
    const d: Described = {
      type: st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other',
      mode: Number(st.mode & 0o7777n),
      mtimeNs: st.mtimeNs,
      size: st.isFile() ? Number(st.size) : 0,
    };
    if (st.isFile())
      d.sha = (await import('node:crypto'))
        .createHash('sha256')
        .update(await fs.readFile(p))
        .digest('hex');
    out.set(rel, d);
  }
  return out;
}

/** The same entries, bytes, modes and sizes; times as restore sets them (isRestoredTime). */
function expectSameTree(actual: Map<string, Described>, expected: Map<string, Described>): void {
  expect([...actual.keys()]).toEqual([...expected.keys()]);
  for (const [rel, want] of expected) {
    const got = actual.get(rel)!;
    expect({ ...got, mtimeNs: 0n }, rel).toEqual({ ...want, mtimeNs: 0n });
    expect(
      isRestoredTime(got.mtimeNs, want.mtimeNs),
      `${rel}: mtime ${got.mtimeNs} for ${want.mtimeNs}`,
    ).toBe(true);
  }
}

describe.skipIf(!RestorePool.available())('restore workers', () => {
  it('give the same tree as the main thread: bytes, modes, times, sizes, holes', async () => {
    const { repo, cache } = await localRepo();
    const src = await tmp('src');
    await buildTree(src);
    const expected = await describe_(src);
    const snap = await push(repo, cache, { paths: [src], host: 'test' });
    const results: Array<{ target: string; files: number; bytesDownloaded: number }> = [];
    for (const workers of [2, 0, 1]) {
      const target = await tmp(`target-w${workers}`);
      // Small windows and batches of few files: many batches, both workers busy at once.
      const result = await restore(repo, cache, {
        snapshot: snap.snapshotId,
        target,
        limits: { workers, windowFiles: 37 },
      });
      expect(result.failed).toEqual([]);
      expect(result.conflicts).toEqual([]);
      expectSameTree(await describe_(path.join(target, src)), expected);
      results.push({ target, files: result.files, bytesDownloaded: result.bytesDownloaded });
    }
    expect(new Set(results.map((r) => r.files)).size).toBe(1);
    // All-zero chunks are holes with the workers too.
    const sparse = await fs.stat(path.join(results[0]!.target, src, 'big-sparse.bin'));
    expect(sparse.blocks * 512).toBeLessThan(900_000);
  });

  it('with --verify, every file is read back and verified', async () => {
    const { repo, cache } = await localRepo();
    const src = await tmp('src');
    await buildTree(src);
    const snap = await push(repo, cache, { paths: [src], host: 'test' });
    const target = await tmp('target');
    const result = await restore(repo, cache, {
      snapshot: snap.snapshotId,
      target,
      verify: true,
      limits: { workers: 2 },
    });
    expect(result.failed).toEqual([]);
    // Every file with contents (the empty one has no chunk to compare, and counts too).
    expect(result.verified).toBe(result.files);
    expectSameTree(await describe_(path.join(target, src)), await describe_(src));
  });

  it('what a killed run left under the temporary names is replaced, through no symlink', async () => {
    const { repo, cache } = await localRepo();
    const src = await tmp('src');
    await fs.writeFile(path.join(src, 'small.txt'), text(3000, 5));
    await fs.writeFile(path.join(src, 'other.txt'), text(2000, 9));
    await fs.writeFile(path.join(src, 'big.bin'), randomBytes(700_000));
    const snap = await push(repo, cache, { paths: [src], host: 'test' });
    const target = await tmp('target');
    const outside = await tmp('outside');
    const victim = path.join(outside, 'victim');
    await fs.writeFile(victim, 'keep me');
    const dir = path.join(target, src);
    await fs.mkdir(dir, { recursive: true });
    // A killed run: a partial file under a temporary name; a symlink out of the target
    // under another (as a hostile earlier snapshot could leave); a folder under the third.
    await fs.writeFile(tmpNameFor(path.join(dir, 'small.txt')) as string, 'partial');
    await fs.symlink(victim, tmpNameFor(path.join(dir, 'big.bin')) as string);
    await fs.mkdir(tmpNameFor(path.join(dir, 'other.txt')) as string);
    const result = await restore(repo, cache, { snapshot: snap.snapshotId, target, limits: { workers: 2 } });
    expect(await fs.readFile(path.join(dir, 'small.txt'))).toEqual(
      await fs.readFile(path.join(src, 'small.txt')),
    );
    expect(await fs.readFile(path.join(dir, 'big.bin'))).toEqual(
      await fs.readFile(path.join(src, 'big.bin')),
    );
    expect(await fs.readFile(victim, 'utf8')).toBe('keep me');
    // A folder under the temporary name is never removed: that file fails, named.
    expect(result.failed.map((f) => f.path)).toEqual([path.join(src, 'other.txt')]);
    await expect(fs.lstat(path.join(dir, 'other.txt'))).rejects.toThrow(/ENOENT/);
    const left = (await listAll(target)).filter((f) => f.endsWith(TMP_SUFFIX));
    expect(left).toEqual([path.relative(target, tmpNameFor(path.join(dir, 'other.txt')) as string)]);
  });

  it('damaged data fails only the files that need it, and leaves no temporary file', async () => {
    const { repo, cache, repoDir } = await localRepo();
    const src = await tmp('src');
    for (let i = 0; i < 40; i++) await fs.writeFile(path.join(src, `f${i}`), text(500 + i * 31, i + 1));
    const snap = await push(repo, cache, { paths: [src], host: 'test' });
    // Flip a byte inside one blob: the first data pack's first blob.
    const blobs = [...repo.index.allBlobs()]
      .filter((b) => b.type === 'data')
      .sort((a, b) => a.offset - b.offset);
    const victim = blobs[0]!;
    const packPath = path.join(repoDir, keys.pack(victim.pack));
    const bytes = await fs.readFile(packPath);
    bytes[victim.offset + 20] = (bytes[victim.offset + 20] ?? 0) ^ 0xff;
    await fs.chmod(packPath, 0o644);
    await fs.writeFile(packPath, bytes);
    const target = await tmp('target');
    const result = await restore(repo, cache, { snapshot: snap.snapshotId, target, limits: { workers: 2 } });
    expect(result.failed.length).toBeGreaterThan(0);
    for (const f of result.failed) expect(f.reason).toMatch(new RegExp(`damaged data: blob ${victim.id}`));
    expect(result.files).toBe(40 - result.failed.length);
    for (let i = 0; i < 40; i++) {
      const name = path.join(src, `f${i}`);
      const restored = await fs.readFile(path.join(target, name)).catch(() => undefined);
      if (result.failed.some((f) => f.path === name)) expect(restored).toBeUndefined();
      else expect(restored).toEqual(await fs.readFile(name));
    }
    expect((await listAll(target)).filter((f) => f.endsWith(TMP_SUFFIX))).toEqual([]);
  });

  it('a file a worker cannot write fails alone, with its own reason, among files of the same blobs', async () => {
    const { repo, cache } = await localRepo();
    const shared = Buffer.from('the same bytes in several files\n'.repeat(20));
    const other = Buffer.from('another blob\n'.repeat(30));
    // Modes Node refuses (each a different message): the worker's fchmod throws for those files.
    const files = [
      { name: 'a', data: shared },
      { name: 'b', data: shared, mode: -1 },
      { name: 'c', data: shared },
      { name: 'd', data: other, mode: -2 },
      { name: 'e', data: other },
      { name: 'f', data: shared, mode: -3 },
    ];
    const snapshot = await craftSnapshot(repo, [{ name: 'dir', children: files }]);
    await loadIndex(repo, cache);
    const target = await tmp('target');
    const result = await restore(repo, cache, { snapshot, target, limits: { workers: 1 } });
    const reasons = new Map(result.failed.map((f) => [f.path, f.reason]));
    expect([...reasons.keys()].sort()).toEqual(['/dir/b', '/dir/d', '/dir/f']);
    expect(reasons.get('/dir/b')).toMatch(/-1\b/);
    expect(reasons.get('/dir/d')).toMatch(/-2\b/);
    expect(reasons.get('/dir/f')).toMatch(/-3\b/);
    expect(result.files).toBe(3);
    for (const { name, data } of files.filter((f) => f.mode === undefined))
      expect(await fs.readFile(path.join(target, 'dir', name))).toEqual(data);
    expect((await listAll(target)).filter((f) => f.endsWith(TMP_SUFFIX))).toEqual([]);
  });
});
