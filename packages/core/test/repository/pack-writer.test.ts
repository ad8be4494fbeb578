import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { serialize } from '../../src/chunk/chunk-worker.js';
import { PackWriter, parsePack } from '../../src/repository/pack.js';
import { Repository } from '../../src/repository/repository.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';

const FAST = {
  kdf: { N: 1024, r: 8, p: 1 },
  chunker: { minSize: 8192, avgSize: 32768, maxSize: 131072 },
  packSize: 128 * 1024,
  compression: 'off' as const,
};

/** A backend whose pack uploads wait until the test lets them go. */
class GatedBackend extends MemoryBackend {
  held: Array<() => void> = [];
  gated = false;
  override async putIfAbsent(key: string, body: Uint8Array) {
    if (this.gated && key.startsWith('data/')) await new Promise<void>((resolve) => this.held.push(resolve));
    return super.putIfAbsent(key, body);
  }
  releaseAll(): void {
    const held = this.held;
    this.held = [];
    for (const go of held) go();
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

/** Every blob of every data pack the backend holds, opened (a blob twice if stored twice). */
async function storedBlobs(
  repo: Repository,
  backend: MemoryBackend,
): Promise<{ id: string; plain: Buffer }[]> {
  const out: { id: string; plain: Buffer }[] = [];
  for (const [key, body] of backend.objects) {
    if (!key.startsWith('data/')) continue;
    const pack = key.split('/').at(-1)!;
    for (const entry of await parsePack(repo, pack, body)) {
      const plain = await repo.openBlob(body.subarray(entry.offset, entry.offset + entry.length), {
        ...entry,
        pack,
      });
      out.push({ id: entry.id, plain: Buffer.from(plain) });
    }
  }
  return out;
}

async function gatedRepo(): Promise<[Repository, GatedBackend]> {
  const backend = new GatedBackend();
  await Repository.init(backend, 'pw', { host: 't', ...FAST });
  return [await Repository.open(backend, 'pw'), backend];
}

describe('PackWriter uploads and write buffers', () => {
  it('never has more than `uploads` uploads in flight nor more than 2 write buffers', async () => {
    const [repo, backend] = await gatedRepo();
    const uploads = 2;
    const packer = new PackWriter(repo, uploads);
    backend.gated = true;
    // 40 blobs of 40 KiB: about 13 packs of 128 KiB, far more than the uploads allowed.
    const blobs = Array.from({ length: 40 }, () => randomBytes(40 * 1024));
    const ids = await Promise.all(blobs.map((b) => repo.blobId(b)));
    let added = 0;
    const adding = blobs.map((b, i) => packer.add(ids[i]!, 'data', b).then(() => added++));
    // With every upload held, the writer fills what it may and then waits.
    for (let i = 0; i < 20; i++) await tick();
    expect(backend.held.length).toBe(uploads);
    expect(added).toBeLessThan(blobs.length);
    while (added < blobs.length) {
      backend.releaseAll();
      await tick();
      expect(backend.held.length).toBeLessThanOrEqual(uploads);
    }
    await Promise.all(adding);
    const flushing = packer.flush();
    backend.gated = false;
    backend.releaseAll();
    await flushing;
    expect(packer.buffersAllocated).toBeLessThanOrEqual(2);
    expect(packer.packsWritten).toBeGreaterThan(uploads + 1);
    // Every blob is in exactly one pack, whole (reused write buffers did not overwrite one).
    const seen = new Map<string, number>();
    for (const { id, plain } of await storedBlobs(repo, backend)) {
      expect(Buffer.compare(plain, blobs[ids.indexOf(id)]!)).toBe(0);
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
    expect(seen.size).toBe(blobs.length);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
  });

  it('with one upload (the tree packer), blobs that wait while a pack uploads all get placed', async () => {
    const [repo, backend] = await gatedRepo();
    const packer = new PackWriter(repo, 1);
    backend.gated = true;
    // 12 blobs of 40 KiB: the fourth fills the first 128 KiB pack, the rest wait for it.
    const blobs = Array.from({ length: 12 }, () => randomBytes(40 * 1024));
    const ids = await Promise.all(blobs.map((b) => repo.blobId(b)));
    let added = 0;
    const adding = blobs.map((b, i) => packer.add(ids[i]!, 'data', b).then(() => added++));
    for (let i = 0; i < 20 && backend.held.length === 0; i++) await tick();
    expect(backend.held.length).toBe(1);
    backend.gated = false;
    backend.releaseAll();
    // Nothing holds uploads now: every blob is placed (the test times out if one waits forever).
    await Promise.all(adding);
    await packer.flush();
    expect(added).toBe(blobs.length);
    const stored = new Set<string>();
    for (const { id, plain } of await storedBlobs(repo, backend)) {
      expect(Buffer.compare(plain, blobs[ids.indexOf(id)]!)).toBe(0);
      stored.add(id);
    }
    expect(stored.size).toBe(blobs.length);
  });

  it('a failed upload fails the push instead of waiting forever', async () => {
    const backend = new MemoryBackend();
    await Repository.init(backend, 'pw', { host: 't', ...FAST });
    const repo = await Repository.open(backend, 'pw');
    backend.putIfAbsent = async () => {
      throw new Error('disk full');
    };
    const packer = new PackWriter(repo, 1);
    const adds = Array.from({ length: 20 }, (_, i) =>
      packer.add(`${i.toString(16).padStart(2, '0')}${'1'.repeat(62)}`, 'data', randomBytes(40 * 1024)),
    );
    await expect(Promise.all([...adds, packer.flush()])).rejects.toThrow('disk full');
  });
});

describe('serialize (one zstd call at a time per chunk worker)', () => {
  it('runs one call at a time, in order, and a failure does not stop the next', async () => {
    let running = 0;
    let most = 0;
    const order: number[] = [];
    const work = serialize(async (n: number) => {
      running++;
      most = Math.max(most, running);
      await tick();
      order.push(n);
      running--;
      if (n === 2) throw new Error('bad chunk');
      return n * 10;
    });
    const results = await Promise.allSettled([1, 2, 3, 4].map((n) => work(n)));
    expect(most).toBe(1);
    expect(order).toEqual([1, 2, 3, 4]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : 'failed'))).toEqual([
      10,
      'failed',
      30,
      40,
    ]);
  });
});
