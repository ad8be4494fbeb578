import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { push } from '../../src/operations/push.js';
import { restore } from '../../src/operations/restore.js';
import type { Repository } from '../../src/repository/repository.js';
import { KEPT_PIECE_BYTES, KeptTrees } from '../../src/restore/kept-trees.js';
import { listAll, localRepo, tmp } from './helpers.js';

describe('KeptTrees: plain trees kept between the two walks, within a budget', () => {
  it('gives back what it kept, once per reference, and lets its pieces go once all are taken', () => {
    const kept = new KeptTrees(4 * KEPT_PIECE_BYTES);
    const a = Buffer.from('{"nodes":[]}');
    const b = randomBytes(1000);
    expect(kept.keep('a', a)).toBe(true);
    expect(kept.keep('b', b)).toBe(true);
    // The same tree met again: one more reference, no second copy.
    expect(kept.keep('a', a)).toBe(true);
    expect(kept.heldBytes).toBe(KEPT_PIECE_BYTES);
    expect(kept.take('b')?.equals(b)).toBe(true);
    expect(kept.take('b')).toBeUndefined();
    expect(kept.take('a')?.equals(a)).toBe(true);
    expect(kept.heldBytes).toBe(KEPT_PIECE_BYTES);
    expect(kept.take('a')?.equals(a)).toBe(true);
    expect(kept.take('a')).toBeUndefined();
    expect(kept.heldBytes).toBe(0);
    expect(kept.overflowed).toBe(false);
  });

  it('keeps in pieces within its budget; when the trees do not all fit, it keeps none', () => {
    const kept = new KeptTrees(2 * KEPT_PIECE_BYTES);
    const third = Math.floor(KEPT_PIECE_BYTES / 3) + 1;
    const trees = Array.from({ length: 5 }, () => randomBytes(third));
    // Two fit in a piece (three do not): two pieces hold four.
    expect(trees.slice(0, 4).map((t, i) => kept.keep(`t${i}`, t))).toEqual([true, true, true, true]);
    expect(kept.heldBytes).toBe(2 * KEPT_PIECE_BYTES);
    expect(kept.overflowed).toBe(false);
    // The fifth does not fit: everything kept is let go, and nothing is kept after.
    expect(kept.keep('t4', trees[4]!)).toBe(false);
    expect(kept.overflowed).toBe(true);
    expect(kept.heldBytes).toBe(0);
    expect(kept.size).toBe(0);
    expect(kept.take('t0')).toBeUndefined();
    expect(kept.keep('small', Buffer.from('{}'))).toBe(false);
    expect(kept.keep('t1', trees[1]!)).toBe(false);
    // A tree larger than a piece has a piece of its own, when the budget has room.
    const big = new KeptTrees(3 * KEPT_PIECE_BYTES);
    const large = randomBytes(KEPT_PIECE_BYTES + 5);
    expect(big.keep('large', large)).toBe(true);
    expect(big.heldBytes).toBe(large.length);
    expect(big.take('large')?.equals(large)).toBe(true);
    expect(big.heldBytes).toBe(0);
  });
});

/** Folders of small files, a few folders with the same contents (one tree, met twice). */
async function buildTree(src: string): Promise<void> {
  for (let d = 0; d < 30; d++) {
    const dir = path.join(src, `folder-${d}`, 'inner');
    await fs.mkdir(dir, { recursive: true });
    for (let f = 0; f < 20; f++) await fs.writeFile(path.join(dir, `f${f}`), randomBytes(30 + f * 50));
  }
  for (const twin of ['twin-a', 'twin-b']) {
    await fs.mkdir(path.join(src, twin));
    await fs.writeFile(path.join(src, twin, 'same'), 'the same file');
    await fs.utimes(path.join(src, twin, 'same'), 1_600_000_000, 1_600_000_000);
    await fs.utimes(path.join(src, twin), 1_600_000_000, 1_600_000_000);
  }
}

/** Counts the trees opened (decrypted, decompressed, checked) through `repo`. */
function countTreeOpens(repo: Repository): { trees: number } {
  const counter = { trees: 0 };
  const open = repo.openBlob.bind(repo);
  repo.openBlob = (sealed, entry) => {
    if (entry.type === 'tree') counter.trees++;
    return open(sealed, entry);
  };
  return counter;
}

async function sameFiles(src: string, target: string): Promise<void> {
  const restored = path.join(target, src);
  expect(await listAll(restored)).toEqual(await listAll(src));
  for (const rel of await listAll(src)) {
    const [a, b] = [path.join(src, rel), path.join(restored, rel)];
    const st = await fs.lstat(a);
    if (st.isFile()) expect((await fs.readFile(b)).equals(await fs.readFile(a)), rel).toBe(true);
    expect(Math.floor((await fs.lstat(b)).mtimeMs), rel).toBe(Math.floor(st.mtimeMs));
  }
}

describe('restore: the trees the counting walk read are opened once', () => {
  it('within the budget, the restore walk opens no tree again; past it, it reads them again; the files are the same', async () => {
    const { repo, cache } = await localRepo();
    const src = await tmp('src');
    await buildTree(src);
    const snap = await push(repo, cache, { paths: [src], host: 'test' });
    const folders = 30 * 2 + 2 + src.split('/').length;

    const opens = countTreeOpens(repo);
    const kept = await tmp('target');
    const result = await restore(repo, cache, { snapshot: snap.snapshotId, target: kept });
    expect(result.failed).toEqual([]);
    // One open per distinct tree (the twins share theirs), none by the restore walk.
    expect(opens.trees).toBe(folders - 1);
    await sameFiles(src, kept);

    opens.trees = 0;
    const tight = await tmp('target');
    const again = await restore(repo, cache, {
      snapshot: snap.snapshotId,
      target: tight,
      limits: { keptTreeBytes: 1 },
    });
    expect(again.failed).toEqual([]);
    // Nothing fits: each walk opens every tree it meets.
    expect(opens.trees).toBeGreaterThanOrEqual(2 * (folders - 1));
    await sameFiles(src, tight);
  });
});
