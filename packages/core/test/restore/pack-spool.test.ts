import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { push } from '../../src/operations/push.js';
import { restore } from '../../src/operations/restore.js';
import type { TreeNode } from '../../src/repository/format.js';
import type { LocatedBlob } from '../../src/repository/master-index.js';
import { PackPlan, SPAN_GAP } from '../../src/restore/pack-plan.js';
import { PackSpool } from '../../src/restore/pack-spool.js';
import type { Backend, ByteRange } from '../../src/storage/backend.js';
import { listAll, localRepo, tmp } from './helpers.js';

/**
 * A store whose requests cost (as S3's): counts every read of a data pack, and streams
 * through `getStream` (in small pieces) unless told to fail mid-body.
 */
class CountingStore implements Backend {
  readonly requestsCost = true;
  readonly location: string;
  readonly packReads: string[] = [];
  /** The ranges of data packs asked for with getStream. */
  readonly streamed: Array<{ key: string; range?: ByteRange }> = [];
  failStreams = false;
  /** With failStreams: the share of each body streamed before the connection drops (0: after the first piece). */
  failAfter = 0;
  constructor(private readonly inner: Backend) {
    this.location = inner.location;
  }
  putIfAbsent(key: string, body: Uint8Array) {
    return this.inner.putIfAbsent(key, body);
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
  stat(key: string) {
    return this.inner.stat(key);
  }
  async get(key: string, range?: ByteRange): Promise<Buffer> {
    if (key.startsWith('data/')) this.packReads.push(key);
    return this.inner.get(key, range);
  }
  async getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Uint8Array>> {
    if (key.startsWith('data/')) {
      this.packReads.push(key);
      this.streamed.push({ key, ...(range ? { range } : {}) });
    }
    const bytes = await this.inner.get(key, range);
    const fail = this.failStreams;
    const failAt = Math.max(1, Math.floor(bytes.length * this.failAfter));
    return (async function* () {
      for (let at = 0; at < bytes.length; at += 1000) {
        if (fail && at >= failAt) throw new Error('connection reset');
        yield bytes.subarray(at, at + 1000);
      }
    })();
  }
}

const text = (n: number, seed: number) =>
  Buffer.from(
    Array.from({ length: n }, (_, i) => String.fromCharCode(97 + ((i * seed + i / 7) % 26))).join(''),
  );

/** Small files in several folders (several packs of the tests' 512 KiB), a duplicate, a hard link, a large file. */
async function buildTree(src: string): Promise<void> {
  for (let d = 0; d < 5; d++) {
    const dir = path.join(src, `d${d}`);
    await fs.mkdir(dir);
    for (let f = 0; f < 50; f++) {
      await fs.writeFile(
        path.join(dir, `f${f}`),
        f % 2 ? randomBytes(3000 + f * 97) : text(4000 + f * 13, d + f),
      );
    }
  }
  await fs.writeFile(path.join(src, 'dup'), text(4000, 0));
  await fs.link(path.join(src, 'd0', 'f1'), path.join(src, 'linked'));
  await fs.writeFile(path.join(src, 'large.bin'), randomBytes(1_500_000));
}

async function digest(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const rel of await listAll(root)) {
    const st = await fs.lstat(path.join(root, rel));
    out.set(
      rel,
      st.isFile()
        ? createHash('sha256')
            .update(await fs.readFile(path.join(root, rel)))
            .digest('hex')
        : 'dir',
    );
  }
  return out;
}

async function setUp() {
  const { repo, cache } = await localRepo();
  const src = await tmp('src');
  await buildTree(src);
  const snap = await push(repo, cache, { paths: [src], host: 'test' });
  const store = new CountingStore(repo.backend);
  (repo as { backend: Backend }).backend = store;
  const packs = new Set([...repo.index.allBlobs()].filter((b) => b.type === 'data').map((b) => b.pack));
  /** Reads of packs holding file contents (the walk's reads of tree packs are apart). */
  const dataReads = () => store.packReads.filter((key) => [...packs].some((p) => key.endsWith(p)));
  return { repo, cache, src, snap, store, packs, dataReads };
}

/** Restores the whole snapshot in windows of 9 files with a spool of `spoolBytes`: nothing fails, every file as pushed. */
async function restoreWhole(
  { repo, cache, src, snap }: Awaited<ReturnType<typeof setUp>>,
  spoolBytes: number,
  expected: Map<string, string>,
) {
  const target = await tmp(`target-${spoolBytes}`);
  const result = await restore(repo, cache, {
    snapshot: snap.snapshotId,
    target,
    limits: { windowFiles: 9, spoolBytes },
  });
  expect(result.failed).toEqual([]);
  expect(await digest(path.join(target, src))).toEqual(expected);
  return result;
}

describe('restore from a store whose requests cost: each pack read once (pack spool)', () => {
  it('restores the same tree with one read of each data pack, where windows alone read each several times', async () => {
    const setup = await setUp();
    const { cache, src, store, packs, dataReads } = setup;
    expect(packs.size).toBeGreaterThan(2);
    const expected = await digest(src);
    const reads: Record<string, number> = {};
    for (const spoolBytes of [0, 64 * 1024 * 1024]) {
      store.packReads.length = 0;
      // Windows of a few files: without the spool, each window reads its packs again.
      const result = await restoreWhole(setup, spoolBytes, expected);
      expect(result.requests).toBe(dataReads().length);
      reads[spoolBytes] = dataReads().length;
    }
    expect(reads[0]).toBeGreaterThan(packs.size * 2);
    // The packs are smaller than SPAN_GAP: one span, one read each.
    expect(reads[64 * 1024 * 1024]).toBe(packs.size);
    // Every file is restored, all of each pack is needed: the walk read some whole while it
    // planned (PackSpool.early), the same single read, the same bytes.
    const whole = store.streamed.filter(
      ({ key, range }) => range?.offset === 0 && range.length === setup.repo.index.packSize(key.slice(-64)),
    );
    expect(whole.length).toBeGreaterThan(0);
    // Nothing is left of the spool in the cache folder.
    expect((await fs.readdir(cache.dir)).filter((n) => n.startsWith('restore-spool-'))).toEqual([]);
  });

  it('a restore run again into a target that has every file reads no data pack', async () => {
    const setup = await setUp();
    const { repo, cache, src, snap, store, dataReads } = setup;
    const target = await tmp('target-again');
    const options = {
      snapshot: snap.snapshotId,
      target,
      limits: { windowFiles: 9, spoolBytes: 64 * 1024 * 1024 },
    };
    await restore(repo, cache, options);
    store.packReads.length = 0;
    const again = await restore(repo, cache, options);
    expect(again.failed).toEqual([]);
    expect(again.unchanged).toBeGreaterThan(200);
    // Not empty: nothing is read ahead of a reader, and no reader comes.
    expect(dataReads()).toEqual([]);
    expect(await digest(path.join(target, src))).toEqual(await digest(src));
  });

  it('a spool smaller than one pack, or a download cut off, still restores every file (from the store)', async () => {
    const setup = await setUp();
    const { src, store } = setup;
    const expected = await digest(src);
    for (const [spoolBytes, failStreams] of [
      [100_000, false],
      [64 * 1024 * 1024, true],
    ] as const) {
      store.failStreams = failStreams;
      await restoreWhole(setup, spoolBytes, expected);
    }
  });

  it('a download cut off halfway through a run: the batches already spooled are used, the rest comes from the store, every file restored', async () => {
    const setup = await setUp();
    const { src, store } = setup;
    const expected = await digest(src);
    store.failStreams = true;
    store.failAfter = 0.5;
    const before = store.packReads.length;
    await restoreWhole(setup, 64 * 1024 * 1024, expected);
    // Each cut-off download is followed by reads of what it did not bring, from the store.
    expect(store.packReads.length - before).toBeGreaterThan(store.streamed.length);
  });

  it('a damaged pack fails only the files that need it, through the spool too', async () => {
    const { repo, cache, src, snap } = await setUp();
    const victim = [...repo.index.allBlobs()].find((b) => b.type === 'data' && b.rawLength < 10_000)!;
    const inner = (repo.backend as unknown as { inner: Backend }).inner;
    const original = inner.get.bind(inner);
    // The store hands back the pack with one byte of the blob flipped.
    inner.get = async (key, range) => {
      const bytes = Buffer.from(await original(key, range));
      if (key.includes(victim.pack)) {
        const at = victim.offset + 5 - (range?.offset ?? 0);
        if (at >= 0 && at < bytes.length) bytes[at] = (bytes[at] ?? 0) ^ 0xff;
      }
      return bytes;
    };
    const target = await tmp('target');
    const result = await restore(repo, cache, {
      snapshot: snap.snapshotId,
      target,
      limits: { windowFiles: 9, spoolBytes: 64 * 1024 * 1024 },
    });
    expect(result.failed.length).toBeGreaterThan(0);
    for (const f of result.failed) expect(f.reason).toMatch(new RegExp(`damaged data: blob ${victim.id}`));
    const restored = (await listAll(path.join(target, src))).length;
    expect(restored).toBeGreaterThan(200);
  });

  it('removes the spool folders of restores whose process is gone, keeps a live one', async () => {
    const parent = await tmp('spool-parent');
    // A PID that cannot be a live process here, and this test's own parent (alive).
    await fs.mkdir(path.join(parent, 'restore-spool-999999999-abc'));
    await fs.writeFile(path.join(parent, 'restore-spool-999999999-abc', 'pack'), 'x');
    await fs.mkdir(path.join(parent, `restore-spool-${process.ppid}-def`));
    await fs.mkdir(path.join(parent, 'other'));
    const spool = await PackSpool.create(new CountingStore(new NoStore()), new Map(), parent, {
      bytes: 1,
      ahead: 1,
    });
    const names = (await fs.readdir(parent)).sort();
    expect(names).toContain(`restore-spool-${process.ppid}-def`);
    expect(names).toContain('other');
    expect(names).not.toContain('restore-spool-999999999-abc');
    await spool!.close();
    expect((await fs.readdir(parent)).sort()).toEqual(['other', `restore-spool-${process.ppid}-def`]);
  });
});

describe('PackSpool', () => {
  it('hands out a range as soon as it is written, not when the whole span is; a pack used up leaves the disk', async () => {
    const pack = Buffer.from(randomBytes(3 * MiB));
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const store = new NoStore();
    // The body's first MiB comes at once, the rest only once the gate opens.
    const streaming = Object.assign(store, {
      getStream: async (_key: string, range?: ByteRange) =>
        (async function* () {
          const part = pack.subarray(range!.offset, range!.offset + range!.length);
          yield part.subarray(0, MiB);
          await gate;
          yield part.subarray(MiB);
        })(),
    });
    const parent = await tmp('spool');
    const plan = new Map([
      ['p'.repeat(64), { spans: [{ start: 0, end: 3 * MiB }], refs: 2, bytes: 3 * MiB }],
    ]);
    const spool = (await PackSpool.create(streaming, plan, parent, { bytes: 64 * MiB, ahead: 2 }))!;
    // Would wait forever for the gate if a read waited for the whole span.
    expect((await spool.read('p'.repeat(64), 10, 5000))?.equals(pack.subarray(10, 5000))).toBe(true);
    open();
    const tail = await spool.read('p'.repeat(64), 2 * MiB, 3 * MiB);
    expect(tail?.equals(pack.subarray(2 * MiB, 3 * MiB))).toBe(true);
    // Outside every planned span, or a pack not planned: the caller reads the store itself.
    expect(await spool.read('p'.repeat(64), 3 * MiB, 3 * MiB + 1)).toBeUndefined();
    expect(await spool.read('q'.repeat(64), 0, 1)).toBeUndefined();
    const [dir] = await fs.readdir(parent);
    expect(await fs.readdir(path.join(parent, dir!))).toEqual(['p'.repeat(64)]);
    await spool.used('p'.repeat(64), 2);
    expect(await fs.readdir(path.join(parent, dir!))).toEqual([]);
    expect(await spool.read('p'.repeat(64), 0, 1)).toBeUndefined();
    await spool.close();
    expect(await fs.readdir(parent)).toEqual([]);
  });
});

const MiB = 1024 * 1024;
const P = 'p'.repeat(64);

/** A store of one pack `P` whose body can fail after its first piece; it records each stream. */
function onePackStore(pack: Buffer, options: { failAfterFirst?: boolean } = {}) {
  const streams: ByteRange[] = [];
  const store = Object.assign(new NoStore(), {
    getStream: async (_key: string, range?: ByteRange) => {
      streams.push(range!);
      const part = pack.subarray(range!.offset, range!.offset + range!.length);
      return (async function* () {
        yield part.subarray(0, 1000);
        if (options.failAfterFirst) throw new Error('connection reset');
        yield part.subarray(1000);
      })();
    },
  });
  return { store, streams };
}

describe('PackSpool, while the walk still plans', () => {
  it('reads a pack told of early whole, once, and serves the planned ranges from it after the plan', async () => {
    const pack = Buffer.from(randomBytes(3 * MiB));
    const { store, streams } = onePackStore(pack);
    const spool = (await PackSpool.create(store, undefined, await tmp('spool'), {
      bytes: 64 * MiB,
      ahead: 2,
      eager: true,
    }))!;
    spool.early(P, pack.length);
    spool.early(P, pack.length);
    // No reader before the plan: the windows only come after the walk.
    expect(await spool.read(P, 0, 10)).toBeUndefined();
    spool.planned(
      new Map([
        [
          P,
          {
            spans: [
              { start: 10, end: 5000 },
              { start: 2 * MiB, end: 3 * MiB },
            ],
            refs: 2,
            bytes: 5000 - 10 + MiB,
          },
        ],
      ]),
    );
    expect((await spool.read(P, 10, 5000))?.equals(pack.subarray(10, 5000))).toBe(true);
    expect((await spool.read(P, 2 * MiB + 7, 3 * MiB))?.equals(pack.subarray(2 * MiB + 7, 3 * MiB))).toBe(
      true,
    );
    // A pack the plan does not hold: the caller reads the store.
    expect(await spool.read('q'.repeat(64), 0, 1)).toBeUndefined();
    // One request for the whole pack, none for the spans.
    expect(streams).toEqual([{ offset: 0, length: pack.length }]);
    expect(spool.requests).toBe(1);
    await spool.close();
  });

  it('a pack read early whose download is cut off answers undefined (the caller reads the store)', async () => {
    const pack = Buffer.from(randomBytes(MiB));
    const { store } = onePackStore(pack, { failAfterFirst: true });
    const spool = (await PackSpool.create(store, undefined, await tmp('spool'), {
      bytes: 64 * MiB,
      ahead: 2,
      eager: true,
    }))!;
    spool.early(P, pack.length);
    spool.planned(new Map([[P, { spans: [{ start: 0, end: MiB }], refs: 1, bytes: MiB }]]));
    expect(await spool.read(P, 0, MiB)).toBeUndefined();
    await spool.close();
  });

  it('reads nothing early beyond its disk bound, and nothing once the plan is given', async () => {
    const pack = Buffer.from(randomBytes(MiB));
    const { store, streams } = onePackStore(pack);
    const spool = (await PackSpool.create(store, undefined, await tmp('spool'), {
      bytes: MiB / 2,
      ahead: 2,
      eager: true,
    }))!;
    // Larger than the whole bound: skipped, and the small one after it is read early.
    spool.early(P, pack.length);
    spool.early('r'.repeat(64), 10);
    // Its download has begun once the store is asked (a few event-loop turns).
    for (let i = 0; i < 500 && streams.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(streams).toEqual([{ offset: 0, length: 10 }]);
    streams.length = 0;
    spool.planned(new Map([[P, { spans: [{ start: 0, end: 100 }], refs: 1, bytes: 100 }]]));
    spool.early('q'.repeat(64), 10);
    // Only the planned span, asked for by the reader: the early pack never fit.
    expect((await spool.read(P, 0, 100))?.equals(pack.subarray(0, 100))).toBe(true);
    expect(streams).toEqual([{ offset: 0, length: 100 }]);
    await spool.close();
  });
});

describe('PackSpool, eager, with a read-ahead bound below its disk bound', () => {
  it('reads ahead only up to aheadBytes; a pack a reader asks for still loads, and nothing is evicted', async () => {
    const packs = new Map(['a', 'b', 'c', 'd'].map((c) => [c.repeat(64), Buffer.from(randomBytes(MiB))]));
    const streams: string[] = [];
    const store = Object.assign(new NoStore(), {
      getStream: async (key: string, range?: ByteRange) => {
        const id = key.split('/').at(-1)!;
        streams.push(id);
        const part = packs.get(id)!.subarray(range!.offset, range!.offset + range!.length);
        return (async function* () {
          yield part;
        })();
      },
    });
    const [a, b, c, d] = [...packs.keys()] as [string, string, string, string];
    const spool = (await PackSpool.create(store, undefined, await tmp('spool'), {
      bytes: 64 * MiB,
      aheadBytes: 2 * MiB,
      ahead: 4,
      eager: true,
    }))!;
    const whole = { spans: [{ start: 0, end: MiB }], refs: 1, bytes: MiB };
    for (const id of packs.keys()) spool.early(id, MiB);
    // Which packs were read, not in what order: two downloads start side by side.
    const read = () => [...streams].sort();
    // Two packs fit the read-ahead bound: the other two wait, though downloads and disk allow.
    await until(() => streams.length >= 2);
    await settle();
    expect(read()).toEqual([a, b]);
    spool.planned(new Map([...packs.keys()].map((id) => [id, whole])));
    await settle();
    expect(read()).toEqual([a, b]);
    // The first used up: room under the bound again, so the next planned pack is read ahead.
    expect((await spool.read(a, 0, MiB))?.equals(packs.get(a)!)).toBe(true);
    await spool.used(a, 1);
    expect((await spool.read(b, 0, MiB))?.equals(packs.get(b)!)).toBe(true);
    await until(() => streams.length >= 3);
    await settle();
    expect(read()).toEqual([a, b, c]);
    // A reader asks for the fourth: it loads beyond the read-ahead bound, and the others stay.
    expect((await spool.read(d, 0, MiB))?.equals(packs.get(d)!)).toBe(true);
    expect((await spool.read(c, 0, MiB))?.equals(packs.get(c)!)).toBe(true);
    expect(read()).toEqual([a, b, c, d]);
    // One request per pack: nothing was evicted and read again.
    expect(spool.requests).toBe(4);
    await spool.close();
  });
});

/** Waits (a few event-loop turns at a time, at most ~10 s) until `done` holds. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !done(); i++) await new Promise((r) => setTimeout(r, 5));
}

/** A few event-loop turns: what would start on its own has started. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 5));
}

describe('PackSpool, not eager (a target that held files: some may never be read)', () => {
  it('reads nothing early, nor before a reader asks', async () => {
    const pack = Buffer.from(randomBytes(MiB));
    const { store, streams } = onePackStore(pack);
    const spool = (await PackSpool.create(store, undefined, await tmp('spool'), {
      bytes: 64 * MiB,
      ahead: 2,
    }))!;
    spool.early(P, pack.length);
    spool.planned(new Map([[P, { spans: [{ start: 0, end: 100 }], refs: 1, bytes: 100 }]]));
    for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 5));
    expect(streams).toEqual([]);
    expect((await spool.read(P, 0, 100))?.equals(pack.subarray(0, 100))).toBe(true);
    expect(streams).toEqual([{ offset: 0, length: 100 }]);
    await spool.close();
  });
});

describe('PackPlan', () => {
  const blob = (pack: string, offset: number, length: number): LocatedBlob => ({
    id: `${pack}-${offset}`,
    type: 'data',
    offset,
    length,
    rawLength: length,
    pack,
  });
  const file = (chunks: string[], hardlink?: string): TreeNode => ({
    name: 'f',
    type: 'file',
    mode: 0o644,
    mtimeNs: '0',
    size: 1,
    chunks,
    ...(hardlink ? { hardlink } : {}),
  });

  it('merges close needs of a pack into spans, keeps far ones apart, counts every reference once', () => {
    const blobs = new Map(
      [
        blob('p', 0, 100),
        blob('p', 5000, 100),
        blob('p', 2000, 100),
        blob('p', 100 + SPAN_GAP + 10_000, 50),
        blob('q', 7, 3),
      ].map((b) => [b.id, b]),
    );
    const plan = new PackPlan((id) => blobs.get(id));
    plan.addFile(file(['p-5000', 'q-7']));
    plan.addFile(file(['p-0', 'p-2000']));
    plan.addFile(file([`p-${100 + SPAN_GAP + 10_000}`, 'unknown']));
    // A hard link's second entry writes nothing: not counted.
    plan.addFile(file(['p-0'], 'inode-1'));
    plan.addFile(file(['p-0'], 'inode-1'));
    const packs = plan.finish();
    expect([...packs.keys()]).toEqual(['p', 'q']);
    expect(packs.get('p')).toEqual({
      spans: [
        { start: 0, end: 5100 },
        { start: 100 + SPAN_GAP + 10_000, end: 100 + SPAN_GAP + 10_050 },
      ],
      refs: 5,
      bytes: 5150,
    });
    expect(packs.get('q')).toEqual({ spans: [{ start: 7, end: 10 }], refs: 1, bytes: 3 });
  });

  it('tells of a pack once the files planned need half of it, once; never of one whose size it cannot trust', () => {
    const blobs = new Map(
      [
        blob('p', 0, 300),
        blob('p', 300, 300),
        blob('p', 600, 300),
        blob('p', 900, 300),
        blob('short', 0, 500),
        blob('unknown', 0, 500),
      ].map((b) => [b.id, b]),
    );
    const sizes = new Map([
      ['p', 1200],
      // The index says 100 bytes, a blob ends at 500: not read early.
      ['short', 100],
    ]);
    const told: Array<[string, number]> = [];
    const plan = new PackPlan((id) => blobs.get(id), {
      sizeOf: (pack) => sizes.get(pack),
      start: (pack, size) => told.push([pack, size]),
    });
    plan.addFile(file(['p-0', 'short-0', 'unknown-0']));
    expect(told).toEqual([]);
    plan.addFile(file(['p-300']));
    expect(told).toEqual([['p', 1200]]);
    plan.addFile(file(['p-600', 'p-900', 'p-0']));
    expect(told).toEqual([['p', 1200]]);
    expect(plan.finish().get('p')?.refs).toBe(5);
  });
});

/** A store with nothing in it (for the spool's folder handling alone). */
class NoStore implements Backend {
  readonly location = 'none:';
  async putIfAbsent(): Promise<'created'> {
    return 'created';
  }
  async get(): Promise<Buffer> {
    throw new Error('nothing here');
  }
  async *list() {}
  async stat() {
    return undefined;
  }
}
