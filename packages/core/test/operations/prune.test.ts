import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeTree } from '../../../../test/support/tree.js';
import { RepoCache } from '../../src/cache/repo-cache.js';
import { check } from '../../src/operations/check.js';
import { forget } from '../../src/operations/forget.js';
import { type PruneStep, prune } from '../../src/operations/prune.js';
import { push } from '../../src/operations/push.js';
import { restore } from '../../src/operations/restore.js';
import { prefixes } from '../../src/repository/format.js';
import { Repository } from '../../src/repository/repository.js';
import { utcCalendar } from '../../src/retention/policy.js';
import type { Backend, PutResult } from '../../src/storage/backend.js';
import { LocalBackend } from '../../src/storage/local-backend.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';

const FAST = {
  kdf: { N: 1024, r: 8, p: 1 },
  chunker: { minSize: 8192, avgSize: 32768, maxSize: 131072 },
  packSize: 128 * 1024,
};
const HOUR = 3_600_000;
const tmp = (name: string) => fs.mkdtemp(path.join(tmpdir(), `bk-${name}-`));

/** A fake clock: prune's notion of now, moved by the test. */
function fakeClock(start = Date.parse('2026-01-10T12:00:00Z')) {
  let t = start;
  return { now: () => new Date(t), advance: (ms: number) => (t += ms) };
}

async function writeFiles(dir: string, names: string[], size = 150_000): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  for (const name of names) await fs.writeFile(path.join(dir, name), randomBytes(size));
}

async function count(backend: Backend, prefix: string): Promise<number> {
  let n = 0;
  for await (const _ of backend.list(prefix)) n++;
  return n;
}

/** Two snapshots: the first holds `old-*` files that the second no longer has. */
async function twoGenerations(backend: Backend) {
  const repo = await Repository.init(backend, 'pw', { host: 't', ...FAST });
  const cache = new RepoCache(await tmp('cache'), repo.config.id);
  const source = await tmp('src');
  await writeFiles(source, ['old-1.bin', 'old-2.bin', 'old-3.bin', 'keep-1.bin']);
  await push(repo, cache, { paths: [source], host: 't' });
  for (const name of ['old-1.bin', 'old-2.bin', 'old-3.bin']) await fs.rm(path.join(source, name));
  await writeFiles(source, ['new-1.bin']);
  await push(await Repository.open(backend, 'pw'), cache, { paths: [source], host: 't' });
  return { source, cache };
}

async function restoresExactly(backend: Backend, source: string): Promise<void> {
  const target = await tmp('restore');
  await restore(await Repository.open(backend, 'pw'), undefined, { snapshot: 'latest', target });
  expect(await describeTree(path.join(target, source))).toEqual(await describeTree(source));
}

describe('forget', () => {
  it('deletes the snapshots the policy does not keep, and --dry-run deletes nothing', async () => {
    const backend = new MemoryBackend();
    await twoGenerations(backend);
    const repo = await Repository.open(backend, 'pw');
    const dry = await forget(repo, undefined, { policy: { last: 1 }, dryRun: true, calendar: utcCalendar });
    expect(dry.groups).toHaveLength(1);
    expect(dry.groups[0]!.remove).toHaveLength(1);
    expect(dry.removed).toEqual([]);
    expect(await count(backend, prefixes.snapshots)).toBe(2);
    const real = await forget(repo, undefined, { policy: { last: 1 }, calendar: utcCalendar });
    expect(real.removed).toEqual([dry.groups[0]!.remove[0]!.id]);
    expect(await count(backend, prefixes.snapshots)).toBe(1);
  });

  it('refuses an empty policy', async () => {
    const backend = new MemoryBackend();
    await twoGenerations(backend);
    await expect(
      forget(await Repository.open(backend, 'pw'), undefined, { policy: {} }),
    ).rejects.toMatchObject({
      code: 'USAGE',
    });
  });
});

describe('prune', () => {
  it('marks unreferenced packs first and deletes them only after the safety margin', async () => {
    const backend = new LocalBackend(await tmp('repo'));
    const { source } = await twoGenerations(backend);
    await forget(await Repository.open(backend, 'pw'), undefined, { policy: { last: 1 } });
    const packsBefore = await count(backend, prefixes.data);
    const clock = fakeClock();

    const first = await prune(await Repository.open(backend, 'pw'), undefined, { now: clock.now });
    expect(first.marked.packs).toBeGreaterThan(0);
    expect(first.deleted.packs).toBe(0);
    expect(await count(backend, prefixes.data)).toBe(packsBefore);
    expect(await count(backend, prefixes.pruneMarkers)).toBe(1);

    clock.advance(23 * HOUR);
    const early = await prune(await Repository.open(backend, 'pw'), undefined, { now: clock.now });
    expect(early.deleted.packs).toBe(0);
    expect(early.marked.packs).toBe(0);
    expect(early.waiting.packs).toBe(first.marked.packs);
    expect(early.waiting.deletableAfter).toBe(new Date(clock.now().getTime() + HOUR).toISOString());

    clock.advance(2 * HOUR);
    const dry = await prune(await Repository.open(backend, 'pw'), undefined, {
      now: clock.now,
      dryRun: true,
    });
    expect(dry.deleted.packs).toBe(first.marked.packs);
    expect(await count(backend, prefixes.data)).toBe(packsBefore);

    const late = await prune(await Repository.open(backend, 'pw'), undefined, { now: clock.now });
    expect(late.deleted.packs).toBe(first.marked.packs);
    expect(await count(backend, prefixes.data)).toBe(packsBefore - first.marked.packs);
    expect(await count(backend, prefixes.pruneMarkers)).toBe(0);

    const checked = await check(await Repository.open(backend, 'pw'), undefined, { readData: true });
    expect(checked.problems).toEqual([]);
    expect(checked.unindexedPacks).toBe(0);
    await restoresExactly(backend, source);
    const again = await prune(await Repository.open(backend, 'pw'), undefined, { now: clock.now });
    expect(again.packs.unused).toBe(0);
  });

  const steps: PruneStep['step'][] = ['analysed', 'marked', 'index-written', 'index-removed', 'pack-deleted'];
  for (const crashAt of steps) {
    it(`a prune dying at "${crashAt}" loses nothing, and the next prune finishes the job`, async () => {
      const backend = new MemoryBackend();
      const { source } = await twoGenerations(backend);
      await forget(await Repository.open(backend, 'pw'), undefined, { policy: { last: 1 } });
      const margin = crashAt === 'analysed' || crashAt === 'marked' ? undefined : 0;
      const crash = new Error('killed');
      await expect(
        prune(
          await Repository.open(backend, 'pw'),
          undefined,
          { safetyMarginMs: margin },
          {
            onStep: ({ step }) => {
              if (step === crashAt) throw crash;
            },
          },
        ),
      ).rejects.toBe(crash);
      const checked = await check(await Repository.open(backend, 'pw'), undefined, { readData: true });
      expect(checked.problems).toEqual([]);
      await restoresExactly(backend, source);

      const finish = await prune(await Repository.open(backend, 'pw'), undefined, { safetyMarginMs: 0 });
      expect(finish.packs.unused).toBe(finish.deleted.packs - (finish.deleted.packs - finish.packs.unused));
      const after = await check(await Repository.open(backend, 'pw'), undefined, { readData: true });
      expect(after.problems).toEqual([]);
      expect(after.unindexedPacks).toBe(0);
      expect(await count(backend, prefixes.pruneMarkers)).toBe(0);
      const final = await prune(await Repository.open(backend, 'pw'), undefined, { safetyMarginMs: 0 });
      expect(final.packs.unused).toBe(0);
      await restoresExactly(backend, source);
    });
  }

  it('refuses to delete anything when a snapshot tree cannot be read', async () => {
    const backend = new MemoryBackend();
    await twoGenerations(backend);
    // Damage every tree pack: nothing can be known about what is used.
    const repo = await Repository.open(backend, 'pw');
    const { loadIndex } = await import('../../src/repository/index-sync.js');
    await loadIndex(repo);
    for (const [id] of repo.index.packIds()) {
      if (repo.index.treePack(id)) backend.objects.get(`data/${id.slice(0, 2)}/${id}`)![50]! ^= 0xff;
    }
    const packs = await count(backend, prefixes.data);
    await expect(
      prune(await Repository.open(backend, 'pw'), undefined, { safetyMarginMs: 0 }),
    ).rejects.toMatchObject({ code: 'PRUNE_UNSAFE' });
    expect(await count(backend, prefixes.data)).toBe(packs);
  });
});

/** Holds a push's snapshot write until released: a push "in flight" at a chosen moment. */
class HeldSnapshots implements Backend {
  readonly location: string;
  private release!: () => void;
  readonly released = new Promise<void>((r) => (this.release = r));
  reached!: () => void;
  readonly atSnapshot = new Promise<void>((r) => (this.reached = r));
  constructor(private readonly inner: Backend) {
    this.location = inner.location;
  }
  open(): void {
    this.release();
  }
  async putIfAbsent(key: string, body: Uint8Array): Promise<PutResult> {
    if (key.startsWith(prefixes.snapshots)) {
      this.reached();
      await this.released;
    }
    return this.inner.putIfAbsent(key, body);
  }
  get: Backend['get'] = (key, range) => this.inner.get(key, range);
  list: Backend['list'] = (prefix) => this.inner.list(prefix);
  stat: Backend['stat'] = (key) => this.inner.stat(key);
}

describe('a push running during a prune', () => {
  it('started before the mark and reusing unreferenced packs: its snapshot rescues them', async () => {
    const backend = new MemoryBackend();
    const repo = await Repository.init(backend, 'pw', { host: 't', ...FAST });
    const source = await tmp('src');
    await writeFiles(source, ['a.bin', 'b.bin', 'c.bin']);
    await push(repo, new RepoCache(await tmp('cache'), repo.config.id), { paths: [source], host: 't' });
    // Forget it all: every pack is unreferenced — but a new push will deduplicate against them.
    await forget(await Repository.open(backend, 'pw'), undefined, { policy: { tags: [['none']] } });
    expect(await count(backend, prefixes.snapshots)).toBe(0);

    const held = new HeldSnapshots(backend);
    const pushing = push(
      await Repository.open(held, 'pw'),
      new RepoCache(await tmp('cache'), repo.config.id),
      {
        paths: [source],
        host: 't',
      },
    );
    await held.atSnapshot; // the push has loaded the index, reused the packs, written its index
    const clock = fakeClock();
    const marking = await prune(await Repository.open(backend, 'pw'), undefined, { now: clock.now });
    expect(marking.marked.packs).toBeGreaterThan(0);
    expect(marking.deleted.packs).toBe(0);
    held.open();
    const pushed = await pushing;
    expect(pushed.snapshot.summary.newBlobs).toBe(0); // it did reuse the old packs

    clock.advance(25 * HOUR);
    const later = await prune(await Repository.open(backend, 'pw'), undefined, { now: clock.now });
    expect(later.rescued).toBe(marking.marked.packs);
    expect(later.deleted.packs).toBe(0);
    expect(
      (await check(await Repository.open(backend, 'pw'), undefined, { readData: true })).problems,
    ).toEqual([]);
    await restoresExactly(backend, source);
  });

  it('started after the mark: it does not reuse marked packs, and their deletion leaves it whole', async () => {
    const backend = new MemoryBackend();
    const repo = await Repository.init(backend, 'pw', { host: 't', ...FAST });
    const source = await tmp('src');
    await writeFiles(source, ['a.bin', 'b.bin', 'c.bin']);
    const cache = new RepoCache(await tmp('cache'), repo.config.id);
    await push(repo, cache, { paths: [source], host: 't' });
    await forget(await Repository.open(backend, 'pw'), undefined, { policy: { tags: [['none']] } });
    const clock = fakeClock();
    const marking = await prune(await Repository.open(backend, 'pw'), undefined, { now: clock.now });
    expect(marking.marked.packs).toBeGreaterThan(0);

    // Same cache: the file cache would say "unchanged", yet the marked packs are not trusted.
    const pushed = await push(await Repository.open(backend, 'pw'), cache, { paths: [source], host: 't' });
    expect(pushed.snapshot.summary.newBlobs).toBeGreaterThan(0);
    clock.advance(25 * HOUR);
    const deleting = await prune(await Repository.open(backend, 'pw'), undefined, { now: clock.now });
    expect(deleting.deleted.packs).toBe(marking.marked.packs);
    expect(
      (await check(await Repository.open(backend, 'pw'), undefined, { readData: true })).problems,
    ).toEqual([]);
    await restoresExactly(backend, source);
  });

  it('truly concurrent on one folder: the push completes and restores bit-exact', async () => {
    const backend = new LocalBackend(await tmp('repo'));
    const { source, cache } = await twoGenerations(backend);
    await forget(await Repository.open(backend, 'pw'), undefined, { policy: { last: 1 } });
    await writeFiles(source, ['more-1.bin', 'more-2.bin', 'more-3.bin'], 400_000);
    const [pushed] = await Promise.all([
      push(await Repository.open(backend, 'pw'), cache, { paths: [source], host: 't' }),
      prune(await Repository.open(backend, 'pw'), undefined, { safetyMarginMs: 0 }),
    ]);
    expect(pushed.snapshotId).toBeTruthy();
    expect(
      (await check(await Repository.open(backend, 'pw'), undefined, { readData: true })).problems,
    ).toEqual([]);
    await restoresExactly(backend, source);
  });
});
