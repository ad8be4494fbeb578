import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeTree } from '../../../../test/support/tree.js';
import { RepoCache } from '../../src/cache/repo-cache.js';
import { check } from '../../src/operations/check.js';
import { push } from '../../src/operations/push.js';
import { restore } from '../../src/operations/restore.js';
import { prefixes } from '../../src/repository/format.js';
import { Repository } from '../../src/repository/repository.js';
import { FaultyBackend } from '../../src/testing/faulty-backend.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';

const FAST = {
  kdf: { N: 1024, r: 8, p: 1 },
  chunker: { minSize: 8192, avgSize: 32768, maxSize: 131072 },
  packSize: 128 * 1024,
};
const tmp = (name: string) => fs.mkdtemp(path.join(tmpdir(), `bk-${name}-`));

async function sourceTree(): Promise<string> {
  const dir = await tmp('src');
  for (let i = 0; i < 12; i++) await fs.writeFile(path.join(dir, `file-${i}.bin`), randomBytes(100_000));
  return dir;
}

async function count(backend: MemoryBackend, prefix: string): Promise<number> {
  let n = 0;
  for await (const _ of backend.list(prefix)) n++;
  return n;
}

describe('a push that dies part-way', () => {
  for (const [what, match] of [
    ['while uploading packs', /^data\//],
    ['before its index', /^index\//],
    ['at the snapshot (the commit point)', /^snapshots\//],
  ] as const) {
    it(`${what}: check accepts the repository, the next push reuses the uploaded packs`, async () => {
      const memory = new MemoryBackend();
      const faulty = new FaultyBackend(memory);
      const repo = await Repository.init(faulty, 'pw', { host: 't', ...FAST });
      const cache = new RepoCache(await tmp('cache'), repo.config.id);
      const source = await sourceTree();
      faulty.plan = { failWrites: { match, afterWrites: faulty.writes + 4 } };
      await expect(push(repo, cache, { paths: [source], host: 't', uploadConcurrency: 1 })).rejects.toThrow(
        /injected/,
      );
      expect(await count(memory, prefixes.snapshots)).toBe(0);

      const afterCrash = await check(await Repository.open(memory, 'pw'), undefined, { readData: true });
      expect(afterCrash.problems).toEqual([]);
      const packsBefore = await count(memory, prefixes.data);
      expect(packsBefore).toBeGreaterThan(0);

      faulty.plan = {};
      const reopened = await Repository.open(faulty, 'pw');
      const second = await push(reopened, cache, { paths: [source], host: 't' });
      // Packs no index listed after the crash are indexed from their own headers.
      expect(second.recoveredPacks).toBe(afterCrash.unindexedPacks);
      if (match.source !== '^snapshots\\/') expect(afterCrash.unindexedPacks).toBeGreaterThan(0);
      // Only what the first push had not uploaded is uploaded now.
      expect(second.snapshot.summary.newBytes).toBeLessThan(1_200_000 - 100_000 * 2);
      const final = await check(reopened, undefined, { readData: true });
      expect(final.problems).toEqual([]);
      expect(final.unindexedPacks).toBe(0);

      const target = await tmp('restore');
      await restore(reopened, undefined, { snapshot: 'latest', target });
      expect(await describeTree(path.join(target, source))).toEqual(await describeTree(source));
    });
  }
});

describe('check --read-data', () => {
  /** A pushed repository in memory, and the key of its largest pack (a data pack). */
  async function pushedRepository(): Promise<{ memory: MemoryBackend; packKey: string }> {
    const memory = new MemoryBackend();
    const repo = await Repository.init(memory, 'pw', { host: 't', ...FAST });
    await push(repo, new RepoCache(await tmp('cache'), repo.config.id), {
      paths: [await sourceTree()],
      host: 't',
    });
    const packs = [...memory.objects].filter(([k]) => k.startsWith('data/'));
    const [packKey] = packs.reduce((a, b) => (b[1].length > a[1].length ? b : a));
    return { memory, packKey };
  }

  it('finds a pack whose bytes were altered, and structure-only check does not read data', async () => {
    const { memory, packKey } = await pushedRepository();
    const pack = memory.objects.get(packKey)!;
    pack[Math.floor(pack.length / 2)]! ^= 0xff;

    const structural = await check(await Repository.open(memory, 'pw'));
    expect(structural.ok).toBe(true);
    const deep = await check(await Repository.open(memory, 'pw'), undefined, { readData: true });
    expect(deep.ok).toBe(false);
    expect(deep.problems).toEqual([
      { kind: 'damaged-pack', key: packKey, message: expect.stringContaining(packKey.split('/').at(-1)!) },
    ]);
  });

  it('finds an index that lists a pack that is gone', async () => {
    const { memory, packKey } = await pushedRepository();
    memory.objects.delete(packKey);
    const result = await check(await Repository.open(memory, 'pw'));
    expect(result.problems.map((p) => p.kind)).toContain('missing-pack');
  });
});

describe('storage failures are never mistaken for unreadable files', () => {
  it('a pack upload failing while a worker chunks a large file fails the push', async () => {
    const memory = new MemoryBackend();
    const faulty = new FaultyBackend(memory);
    const repo = await Repository.init(faulty, 'pw', { host: 't', ...FAST });
    const source = await tmp('src');
    await fs.writeFile(path.join(source, 'large.bin'), randomBytes(3 * 1024 * 1024));
    faulty.plan = {
      failWrites: {
        match: /^data\//,
        error: () => Object.assign(new Error('injected: disk full'), { code: 'ENOSPC' }),
      },
    };
    await expect(
      push(repo, new RepoCache(await tmp('cache'), repo.config.id), { paths: [source], host: 't' }),
    ).rejects.toThrow(/disk full/);
  });
});
