import { randomBytes } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isFileReadError, readSmallFile } from '../../src/archive/read-file.js';
import { SmallFileBatcher, type StoredFile } from '../../src/archive/small-file-batcher.js';
import { xattrModuleSync } from '../../src/archive/xattrs.js';
import { ChunkPool } from '../../src/chunk/chunk-pool.js';
import { FastCdcChunker } from '../../src/chunk/fastcdc.js';
import { decompressBlob } from '../../src/compress/compression.js';
import { PackWriter, parsePack } from '../../src/repository/pack.js';
import { Repository } from '../../src/repository/repository.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';

const FAST = {
  kdf: { N: 1024, r: 8, p: 1 },
  // Small chunks and packs: files of a few hundred KiB have several chunks, a batch spans packs.
  chunker: { minSize: 8192, avgSize: 32768, maxSize: 131072 },
  packSize: 128 * 1024,
};
const tmp = (name: string) => fs.mkdtemp(path.join(tmpdir(), `bk-${name}-`));

let pools: ChunkPool[] = [];
afterEach(async () => {
  await Promise.all(pools.map((p) => p.close()));
  pools = [];
});

function poolFor(repo: Repository, xattrs = false, workers = 2): ChunkPool {
  const pool = new ChunkPool(
    {
      xattrs,
      seed: repo.master.chunkerSeed,
      idKey: repo.master.id,
      params: repo.config.chunker,
      credits: 8,
      encKey: repo.master.encryption,
      compression: repo.compression,
    },
    workers,
  );
  pools.push(pool);
  return pool;
}

/** Two repositories with the same keys (a copy of one just made): ids are comparable. */
async function twins(): Promise<[Repository, Repository, MemoryBackend, MemoryBackend]> {
  const a = new MemoryBackend();
  await Repository.init(a, 'pw', { host: 't', ...FAST });
  const b = new MemoryBackend();
  for (const [key, body] of a.objects) b.objects.set(key, Buffer.from(body));
  return [await Repository.open(a, 'pw'), await Repository.open(b, 'pw'), a, b];
}

/** Every blob in the packs of `backend`: id → how it is stored and its plaintext. */
async function blobsOf(repo: Repository, backend: MemoryBackend) {
  const out = new Map<string, { rawLength?: number; compressed: boolean; plain: Buffer }>();
  for (const [key, body] of backend.objects) {
    if (!key.startsWith('data/')) continue;
    const packId = key.split('/').at(-1)!;
    for (const entry of await parsePack(repo, packId, body)) {
      const opened = await repo.open(body.subarray(entry.offset, entry.offset + entry.length), entry.id);
      const plain = entry.compressed ? await decompressBlob(opened) : opened;
      out.set(entry.id, { rawLength: entry.rawLength, compressed: entry.compressed === true, plain });
    }
  }
  return out;
}

/** What the main thread stores for a small file (the path the batcher replaces). */
async function storeOnMainThread(repo: Repository, packer: PackWriter, file: string | Buffer, size: number) {
  const data = await readSmallFile(file, size);
  const chunker = new FastCdcChunker(repo.master.chunkerSeed, repo.config.chunker);
  const chunks = [...chunker.push(data)];
  const last = chunker.finish();
  if (last) chunks.push(last);
  const ids: string[] = [];
  for (const chunk of chunks) {
    const id = await repo.blobId(chunk);
    await packer.add(id, 'data', chunk);
    ids.push(id);
  }
  return { chunks: ids, size: data.length };
}

async function makeFiles(dir: string): Promise<Array<string | Buffer>> {
  const text = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(8000)); // compressible
  const files: Array<[string | Buffer, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['tiny.txt', Buffer.from('hi\n')],
    ['text.txt', text],
    ['text-copy.txt', text], // a duplicate: stored once
    ['random.bin', randomBytes(300 * 1024)], // incompressible: stored as it is
    ['mixed.bin', Buffer.concat([randomBytes(50_000), text.subarray(0, 200_000)])],
    ['exactly-1MiB.bin', Buffer.concat([randomBytes(512 * 1024), text.subarray(0, 512 * 1024)])],
    // A name that is not UTF-8: the worker gets it as bytes.
    [
      Buffer.concat([Buffer.from(`${dir}/latin1-`), Buffer.from([0xe9, 0xff]), Buffer.from('.txt')]),
      text.subarray(7),
    ],
  ];
  for (let i = 0; i < 150; i++)
    files.push([`many-${i}.txt`, Buffer.from(`file ${i % 40}\n`.repeat(1 + (i % 7) * 90))]);
  const paths: Array<string | Buffer> = [];
  for (const [name, body] of files) {
    const file = typeof name === 'string' ? path.join(dir, name) : name;
    await fs.writeFile(file, body);
    paths.push(file);
  }
  return paths;
}

/** A large file through a worker as the archiver sends it: ids told, new chunks sealed there. */
async function storeLargeInWorker(pool: ChunkPool, packer: PackWriter, file: string) {
  const ids: string[] = [];
  const { size } = await pool.chunkFile(file, {
    onId: (chunk) => {
      ids[chunk.index] = chunk.id;
      return packer.claim(chunk.id);
    },
    onSealed: async (chunk) => {
      await packer.place(ids[chunk.index]!, 'data', chunk.sealed, chunk.rawLength, chunk.compressed);
    },
  });
  return { chunks: ids, size };
}

async function storeLargeOnMainThread(repo: Repository, packer: PackWriter, file: string) {
  const chunker = new FastCdcChunker(repo.master.chunkerSeed, repo.config.chunker);
  const chunks: Buffer[] = [];
  for await (const data of createReadStream(file)) chunks.push(...chunker.push(data as Buffer));
  const last = chunker.finish();
  if (last) chunks.push(last);
  const ids: string[] = [];
  let size = 0;
  for (const chunk of chunks) {
    const id = await repo.blobId(chunk);
    await packer.add(id, 'data', chunk);
    ids.push(id);
    size += chunk.length;
  }
  return { chunks: ids, size };
}

describe('large files through the chunk workers', () => {
  it('store the same blobs as the main thread, sealing only the chunks the index lacks', async () => {
    const [viaWorker, direct, workerBackend, directBackend] = await twins();
    const dir = await tmp('large');
    const text = Buffer.from('a line of text that compresses well\n'.repeat(40_000));
    const random = randomBytes(1_500_000);
    const first = path.join(dir, 'first.bin');
    const second = path.join(dir, 'second.bin'); // shares most of its chunks with first
    await fs.writeFile(first, Buffer.concat([random, text]));
    await fs.writeFile(second, Buffer.concat([random, Buffer.from('edited'), text]));
    const pool = poolFor(viaWorker);
    const packer = new PackWriter(viaWorker, 2);
    let sealedChunks = 0;
    const countingPacker = Object.assign(Object.create(packer) as PackWriter, {
      place: (...args: Parameters<PackWriter['place']>) => {
        sealedChunks++;
        return packer.place(...args);
      },
    });
    const a = [
      await storeLargeInWorker(pool, countingPacker, first),
      await storeLargeInWorker(pool, countingPacker, second),
    ];
    await packer.flush();
    const directPacker = new PackWriter(direct, 2);
    const b = [
      await storeLargeOnMainThread(direct, directPacker, first),
      await storeLargeOnMainThread(direct, directPacker, second),
    ];
    await directPacker.flush();
    expect(a).toEqual(b);
    const blobsA = await blobsOf(viaWorker, workerBackend);
    const blobsB = await blobsOf(direct, directBackend);
    expect([...blobsA.keys()].sort()).toEqual([...blobsB.keys()].sort());
    for (const [id, blob] of blobsA) {
      expect(blob.compressed).toBe(blobsB.get(id)!.compressed);
      expect(blob.plain.equals(blobsB.get(id)!.plain)).toBe(true);
    }
    // The second file's known chunks were never sealed: one sealed chunk per distinct blob.
    expect(sealedChunks).toBe(blobsA.size);
    expect(new Set([...a[0]!.chunks, ...a[1]!.chunks]).size).toBe(blobsA.size);
    expect(a[1]!.chunks.filter((id) => a[0]!.chunks.includes(id)).length).toBeGreaterThan(0);
  });

  it('a file many times the size of the read ring (reused buffers) stores the same blobs as the main thread', async () => {
    const [viaWorker, direct, workerBackend, directBackend] = await twins();
    const dir = await tmp('large-ring');
    // 9 MiB: the ring of reused 1 MiB read buffers comes round three times, and chunks
    // that span two reads are joined in pooled buffers.
    const parts: Buffer[] = [];
    for (let i = 0; i < 9; i++)
      parts.push(
        i % 2 ? randomBytes(1024 * 1024) : Buffer.from(`block ${i}: text that compresses\n`.repeat(33_000)),
      );
    const file = path.join(dir, 'big.bin');
    await fs.writeFile(file, Buffer.concat(parts));
    const packer = new PackWriter(viaWorker, 2);
    const a = await storeLargeInWorker(poolFor(viaWorker), packer, file);
    await packer.flush();
    const directPacker = new PackWriter(direct, 2);
    const b = await storeLargeOnMainThread(direct, directPacker, file);
    await directPacker.flush();
    expect(a).toEqual(b);
    const blobsA = await blobsOf(viaWorker, workerBackend);
    const blobsB = await blobsOf(direct, directBackend);
    expect(blobsA.size).toBe(blobsB.size);
    for (const [id, blob] of blobsB) expect(blobsA.get(id)?.plain.equals(blob.plain)).toBe(true);
  });

  it('a file whose packing fails does not stall the worker: the next file is stored', async () => {
    const [repo] = await twins();
    const dir = await tmp('large-fail');
    const file = path.join(dir, 'big.bin');
    await fs.writeFile(file, randomBytes(2_000_000));
    const pool = poolFor(repo);
    const failing = pool.chunkFile(file, {
      onId: () => true,
      onSealed: async () => {
        throw new Error('injected: upload failed');
      },
    });
    await expect(failing).rejects.toThrow(/injected/);
    const packer = new PackWriter(repo, 1);
    // Same worker (the pool has one free), same chunks: all new to this packer, stored.
    const again = await storeLargeInWorker(pool, packer, file);
    expect(again.size).toBe(2_000_000);
  });

  it('a large file that cannot be read fails with its error code', async () => {
    const [repo] = await twins();
    const pool = poolFor(repo);
    const missing = pool.chunkFile(path.join(await tmp('large-gone'), 'gone.bin'), {
      onId: () => true,
      onSealed: async () => undefined,
    });
    await expect(missing).rejects.toMatchObject({ code: 'ENOENT' });
    await missing.catch((error: unknown) => expect(isFileReadError(error)).toBe(true));
  });
});

describe('small files through the chunk workers', () => {
  it('store the same blobs, compressed the same way, as the main thread', async () => {
    const [batched, direct, batchedBackend, directBackend] = await twins();
    const dir = await tmp('small');
    const files = await makeFiles(dir);
    const sizes = await Promise.all(files.map(async (f) => (await fs.lstat(f)).size));

    const pool = poolFor(batched);
    const batchPacker = new PackWriter(batched, 2);
    let newBlobs = 0;
    let bytes = 0;
    const batcher = new SmallFileBatcher(
      pool,
      batchPacker,
      { onNewBlob: () => newBlobs++, onBytes: (n) => (bytes += n) },
      // Small batches: many of them in flight, split across both workers and several packs.
      { files: 7, bytes: 256 * 1024, perWorker: 2 },
    );
    const viaWorkers = await Promise.all(files.map((f, i) => batcher.store(f, sizes[i]!)));
    await batchPacker.flush();

    const directPacker = new PackWriter(direct, 2);
    const viaMain: StoredFile[] = [];
    for (const [i, f] of files.entries())
      viaMain.push(await storeOnMainThread(direct, directPacker, f, sizes[i]!));
    await directPacker.flush();

    expect(viaWorkers).toEqual(viaMain);
    expect(bytes).toBe(sizes.reduce((a, b) => a + b, 0));
    const a = await blobsOf(batched, batchedBackend);
    const b = await blobsOf(direct, directBackend);
    expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
    expect(newBlobs).toBe(a.size);
    for (const [id, blob] of a) {
      const other = b.get(id)!;
      expect({ id, rawLength: blob.rawLength, compressed: blob.compressed }).toEqual({
        id,
        rawLength: other.rawLength,
        compressed: other.compressed,
      });
      expect(blob.plain.equals(other.plain)).toBe(true);
      expect(await batched.blobId(blob.plain)).toBe(id);
    }
    // Both kinds of blob are in the comparison: some compressed, some stored as they are.
    expect([...a.values()].some((x) => x.compressed)).toBe(true);
    expect([...a.values()].some((x) => !x.compressed)).toBe(true);
  });

  it('a file that cannot be read mid-batch fails alone, with its error code', async () => {
    const [repo] = await twins();
    const dir = await tmp('small-err');
    const good = path.join(dir, 'good.txt');
    await fs.writeFile(good, 'good\n');
    await fs.mkdir(path.join(dir, 'a-folder'));
    const batcher = new SmallFileBatcher(poolFor(repo), new PackWriter(repo, 1), {
      onNewBlob: () => undefined,
      onBytes: () => undefined,
    });
    const results = await Promise.allSettled([
      batcher.store(good, 5),
      batcher.store(path.join(dir, 'gone.txt'), 10),
      batcher.store(path.join(dir, 'a-folder'), 4096),
      batcher.store(good, 5),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    const [, gone, folder] = results as PromiseRejectedResult[];
    expect((gone!.reason as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect((folder!.reason as NodeJS.ErrnoException).code).toBe('EISDIR');
    expect(isFileReadError(gone!.reason)).toBe(true);
    expect(isFileReadError(folder!.reason)).toBe(true);
  });

  it('with xattrs asked for, each file says whether it has any (listed in the worker, after the read)', async () => {
    const mod = xattrModuleSync();
    const dir = await tmp('small-xattrs');
    const plain = path.join(dir, 'plain.txt');
    const tagged = path.join(dir, 'tagged.txt');
    await fs.writeFile(plain, 'plain\n');
    await fs.writeFile(tagged, 'tagged\n');
    let taggable = mod !== undefined;
    try {
      await mod?.setAttribute(tagged, 'user.test', Buffer.from('1'));
    } catch {
      taggable = false; // a file system without user xattrs
    }
    const [repo] = await twins();
    const events = { onNewBlob: () => undefined, onBytes: () => undefined };
    const asked = new SmallFileBatcher(poolFor(repo, true), new PackWriter(repo, 1), events);
    const [a, b] = await Promise.all([asked.store(plain, 6), asked.store(tagged, 7)]);
    expect(a!.hasXattrs).toBe(mod ? false : undefined);
    if (taggable) expect(b!.hasXattrs).toBe(true);
    const notAsked = new SmallFileBatcher(poolFor(repo), new PackWriter(repo, 1), events);
    expect((await notAsked.store(plain, 6)).hasXattrs).toBeUndefined();
  });

  it('a batch whose chunks are all known seals nothing, and the worker goes on', async () => {
    const [repo] = await twins();
    const dir = await tmp('small-known');
    const file = path.join(dir, 'a.txt');
    await fs.writeFile(file, 'same content\n'.repeat(100));
    let newBlobs = 0;
    const batcher = new SmallFileBatcher(poolFor(repo), new PackWriter(repo, 1), {
      onNewBlob: () => newBlobs++,
      onBytes: () => undefined,
    });
    const first = await batcher.store(file, 1300);
    // A later batch, every chunk known: the worker drops it (no seal round trip).
    const again = await Promise.all([batcher.store(file, 1300), batcher.store(file, 1300)]);
    expect(again).toEqual([first, first]);
    expect(newBlobs).toBe(1);
    await fs.writeFile(path.join(dir, 'b.txt'), 'other\n');
    expect((await batcher.store(path.join(dir, 'b.txt'), 6)).size).toBe(6);
    expect(newBlobs).toBe(2);
  });

  it('a file that grew since lstat is read to its end', async () => {
    const [repo] = await twins();
    const dir = await tmp('small-grew');
    const file = path.join(dir, 'grew.txt');
    await fs.writeFile(file, 'x'.repeat(10_000));
    const batcher = new SmallFileBatcher(poolFor(repo), new PackWriter(repo, 1), {
      onNewBlob: () => undefined,
      onBytes: () => undefined,
    });
    // lstat said 100 bytes; the file now holds 10,000.
    expect((await batcher.store(file, 100)).size).toBe(10_000);
  });

  it('a worker that dies mid-batch fails its files, and later ones, without hanging', async () => {
    const [repo] = await twins();
    const dir = await tmp('small-crash');
    const files = await makeFiles(dir);
    const pool = poolFor(repo);
    const batcher = new SmallFileBatcher(pool, new PackWriter(repo, 1), {
      onNewBlob: () => undefined,
      onBytes: () => undefined,
    });
    const settled = Promise.allSettled(files.map((f) => batcher.store(f, 4096)));
    // Both workers stop while batches are in them.
    const workers = (pool as unknown as { slots: Array<{ worker: { terminate(): Promise<number> } }> }).slots;
    await Promise.all(workers.map((s) => s.worker.terminate()));
    const results = await settled;
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected.length).toBeGreaterThan(0);
    for (const r of rejected) {
      expect(String(r.reason)).toMatch(/chunk worker/);
      // Not an unreadable file: the push fails instead of skipping it.
      expect(isFileReadError(r.reason)).toBe(false);
    }
    await expect(batcher.store(files[0]!, 10)).rejects.toThrow(/chunk worker/);
  });
});

describe('a sealed batch buffer handed back to its worker', () => {
  /** A pool of one worker and a file in `dir` of `bytes` compressible bytes, new each call. */
  async function sealOne(pool: ChunkPool, dir: string, name: string) {
    const file = path.join(dir, name);
    await fs.writeFile(file, `${name}\n`.repeat(400));
    const { job, files } = await pool.readBatch([{ path: file, size: (name.length + 1) * 400 }]);
    expect('ids' in files[0]!).toBe(true);
    return pool.sealBatch(job, [0]);
  }

  it('rides on the next message to the worker (no message of its own), and the worker seals on', async () => {
    const [repo] = await twins();
    const dir = await tmp('gift');
    const pool = poolFor(repo, false, 1);
    const first = await sealOne(pool, dir, 'a.txt');
    const buffer = first.data.buffer;
    expect(buffer.byteLength).toBeGreaterThan(0);
    first.release();
    first.release(); // twice: nothing more
    // Released, not sent yet: it waits for the next message to this worker.
    expect(buffer.byteLength).toBeGreaterThan(0);
    const second = await sealOne(pool, dir, 'b.txt');
    // Gone with the next batch (transferred: detached here).
    expect(buffer.byteLength).toBe(0);
    expect(second.data.length).toBe(second.lengths[0]);
    // Two released with no message between them: the older goes at once, the newer waits.
    const third = await sealOne(pool, dir, 'c.txt');
    second.release();
    third.release();
    expect(second.data.buffer.byteLength).toBe(0);
    expect(third.data.buffer.byteLength).toBeGreaterThan(0);
    const fourth = await sealOne(pool, dir, 'd.txt');
    expect(third.data.buffer.byteLength).toBe(0);
    // Each sealed blob opens to its file's bytes: the reused buffers held no stale data.
    for (const [sealed, name] of [[fourth, 'd.txt']] as const) {
      const opened = await repo.open(sealed.data.subarray(0, sealed.lengths[0]!), name);
      const plain = sealed.compressed[0] ? await decompressBlob(opened) : opened;
      expect(plain.toString()).toBe(`${name}\n`.repeat(400));
    }
  });
});
