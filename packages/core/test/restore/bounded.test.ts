import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { push } from '../../src/operations/push.js';
import { restore } from '../../src/operations/restore.js';
import { loadIndex } from '../../src/repository/index-sync.js';
import { TreeReader } from '../../src/restore/tree-reader.js';
import { localRepo, tmp } from './helpers.js';

/** Folders × files, a few files of several chunks, hard links across folders, read-only folders. */
async function buildTree(src: string): Promise<Map<string, Buffer>> {
  const contents = new Map<string, Buffer>();
  for (let d = 0; d < 12; d++) {
    const dir = path.join(src, `d${d}`, 'inner');
    await fs.mkdir(dir, { recursive: true });
    for (let f = 0; f < 15; f++) {
      const data = randomBytes(f === 0 ? 300_000 : 50 + f * 37);
      const file = path.join(dir, `f${f}.bin`);
      await fs.writeFile(file, data, { mode: 0o640 });
      contents.set(file, data);
    }
  }
  await fs.link(path.join(src, 'd0', 'inner', 'f0.bin'), path.join(src, 'd11', 'link-to-d0.bin'));
  contents.set(
    path.join(src, 'd11', 'link-to-d0.bin'),
    contents.get(path.join(src, 'd0', 'inner', 'f0.bin'))!,
  );
  await fs.chmod(path.join(src, 'd5', 'inner'), 0o555);
  await fs.chmod(path.join(src, 'd11'), 0o555);
  return contents;
}

/** Descriptors of this process open on something under `dir` (Linux: /proc/self/fd). */
function openUnder(dir: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(`${dir}/`)) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

describe('restore with bounded memory and concurrency', () => {
  it('restores everything bit-exact with tiny windows, tree cache, and open-file pool', async () => {
    const { repo, cache } = await localRepo();
    const src = await tmp('src');
    const contents = await buildTree(src);
    const snap = await push(repo, cache, { paths: [src], host: 'test' });
    const target = await tmp('target');
    const seen: number[] = [];
    const result = await restore(
      repo,
      cache,
      {
        snapshot: snap.snapshotId,
        target,
        concurrency: 1,
        limits: {
          windowFiles: 2,
          windowBlobs: 3,
          openFiles: 1,
          treeCacheBytes: 1,
          entryConcurrency: 1,
          fsConcurrency: 1,
        },
      },
      { onProgress: (p) => seen.push(p.filesDone) },
    );
    expect(result.failed).toEqual([]);
    expect(result.conflicts).toEqual([]);
    expect(result.files).toBe(contents.size);
    for (const [file, data] of contents) {
      expect((await fs.readFile(path.join(target, file))).equals(data), file).toBe(true);
      const [a, b] = [await fs.stat(file), await fs.stat(path.join(target, file))];
      expect(b.mode & 0o7777, file).toBe(a.mode & 0o7777);
      expect(Math.floor(b.mtimeMs), file).toBe(Math.floor(a.mtimeMs));
    }
    const link = await fs.stat(path.join(target, src, 'd11', 'link-to-d0.bin'));
    expect(link.ino).toBe((await fs.stat(path.join(target, src, 'd0', 'inner', 'f0.bin'))).ino);
    // Folder metadata last: read-only modes and mtimes hold although files were written in them.
    for (const dir of ['d5/inner', 'd11', 'd3']) {
      const [a, b] = [await fs.stat(path.join(src, dir)), await fs.stat(path.join(target, src, dir))];
      expect(b.mode & 0o7777, dir).toBe(a.mode & 0o7777);
      expect(Math.floor(b.mtimeMs), dir).toBe(Math.floor(a.mtimeMs));
    }
    expect(seen.at(-1)).toBe(contents.size);
    // A re-run finds everything in place.
    const again = await restore(repo, cache, {
      snapshot: snap.snapshotId,
      target,
      limits: { windowFiles: 1 },
    });
    expect(again.failed).toEqual([]);
    expect(again.unchanged).toBe(contents.size);
  });

  it.runIf(existsSync('/proc/self/fd'))('honours the bounds on downloads and open files', async () => {
    const { repo, cache } = await localRepo();
    const src = await tmp('src');
    // Files of many chunks whose chunks share packs: without the pool, all would stay open.
    const files = new Map<string, Buffer>();
    for (let i = 0; i < 10; i++) {
      const data = randomBytes(400_000 + i * 10_000);
      const file = path.join(src, `big${i}.bin`);
      await fs.writeFile(file, data);
      files.set(file, data);
    }
    const snap = await push(repo, cache, { paths: [src], host: 'test' });
    const target = await tmp('target');
    let inFlight = 0;
    let maxInFlight = 0;
    let maxOpen = 0;
    const backend = repo.backend;
    const get = backend.get.bind(backend);
    (backend as { get: typeof backend.get }).get = async (key, range) => {
      maxOpen = Math.max(maxOpen, openUnder(target));
      if (!key.startsWith('data/')) return get(key, range);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        return await get(key, range);
      } finally {
        inFlight--;
      }
    };
    const result = await restore(repo, cache, {
      snapshot: snap.snapshotId,
      target,
      concurrency: 2,
      // The main thread's pool of descriptors (restore workers open a file per chunk and close it).
      limits: { openFiles: 2, fsConcurrency: 1, windowFiles: 100, workers: 0 },
    });
    expect(result.failed).toEqual([]);
    for (const [file, data] of files)
      expect((await fs.readFile(path.join(target, file))).equals(data)).toBe(true);
    expect(maxInFlight).toBeGreaterThan(0);
    expect(maxInFlight).toBeLessThanOrEqual(2);
    // The idle pool (2) plus the one writer fsConcurrency allows.
    expect(maxOpen).toBeGreaterThan(0);
    expect(maxOpen).toBeLessThanOrEqual(3);
  });

  it('the tree reader keeps no more tree packs than its budget (beyond the one in use)', async () => {
    const { repo, cache } = await localRepo();
    const src = await tmp('src');
    // Enough folders for several tree packs (packs are 512 KiB in these tests).
    for (let d = 0; d < 80; d++) {
      const dir = path.join(src, `folder-${d}`);
      await fs.mkdir(dir);
      for (let f = 0; f < 100; f++) {
        await fs.writeFile(path.join(dir, randomBytes(40).toString('hex')), `${d}/${f}`);
      }
    }
    const snap = await push(repo, cache, { paths: [src], host: 'test' });
    await loadIndex(repo, cache);
    const treePacks = [...repo.index.packIds()].filter(([id]) => repo.index.treePack(id));
    expect(treePacks.length).toBeGreaterThan(1);
    const largest = Math.max(...treePacks.map(([, size]) => size));
    const reader = new TreeReader(repo, 1);
    let trees = 0;
    const walk = async (id: string): Promise<void> => {
      const tree = await reader.read(id);
      trees++;
      expect(reader.heldBytes).toBeLessThanOrEqual(largest);
      for (const node of tree.nodes) if (node.subtree) await walk(node.subtree);
    };
    const snapshot = await repo.loadJson<{ tree: string }>(`snapshots/${snap.snapshotId}`);
    await walk(snapshot.tree);
    expect(trees).toBeGreaterThan(80);
  });
});
