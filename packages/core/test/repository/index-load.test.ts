import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { RepoCache } from '../../src/cache/repo-cache.js';
import { ErrorCodes } from '../../src/errors/index.js';
import { push } from '../../src/operations/push.js';
import { keys, PACK_TRAILER_BYTES } from '../../src/repository/format.js';
import { loadIndex } from '../../src/repository/index-sync.js';
import { readPackHeader } from '../../src/repository/pack.js';
import { Repository } from '../../src/repository/repository.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';

const FAST_KDF = { N: 1024, r: 8, p: 1 };
const tmp = (name: string) => fs.mkdtemp(path.join(tmpdir(), `bk-${name}-`));

it('index files load in listing order while the next is fetched: a damaged one in the middle is set aside, the others and the packs it listed are known', async () => {
  const backend = new MemoryBackend();
  const repo = await Repository.init(backend, 'correct horse', { host: 'test', kdf: FAST_KDF });
  const cache = new RepoCache(await tmp('cache'), repo.config.id);
  const chunks: string[] = [];
  for (let i = 0; i < 4; i++) {
    const src = await tmp(`src${i}`);
    await fs.writeFile(path.join(src, 'f'), randomBytes(20_000 + i));
    const result = await push(repo, cache, { paths: [src], host: 'test' });
    let nodes = (await repo.readTree(result.snapshot.tree)).nodes;
    while (nodes[0]!.subtree) nodes = (await repo.readTree(nodes[0]!.subtree)).nodes;
    chunks.push(...nodes[0]!.chunks!);
  }
  const indexKeys = [...backend.objects.keys()].filter((k) => k.startsWith('index/')).sort();
  expect(indexKeys.length).toBe(4);
  const damaged = indexKeys[1]!;
  const bytes = backend.objects.get(damaged)!;
  bytes[bytes.length - 1]! ^= 1;

  const reopened = await Repository.open(backend, 'correct horse');
  const loaded = await loadIndex(reopened);
  expect(loaded.files).toBe(3);
  expect(loaded.rejected).toEqual([damaged]);
  // What the damaged file described comes back from the packs' own headers.
  expect(loaded.recovered.length).toBeGreaterThan(0);
  expect(chunks.length).toBeGreaterThanOrEqual(4);
  for (const id of chunks) expect(reopened.index.has(id)).toBe(true);
});

it('an index file that decrypts but whose numbers no pack can have (a blob past 4 GiB, no rawLength) is set aside, not thrown', async () => {
  const backend = new MemoryBackend();
  const repo = await Repository.init(backend, 'correct horse', { host: 'test', kdf: FAST_KDF });
  const id = (n: number) => n.toString(16).padStart(64, '0');
  const blob = { id: id(1), type: 'data', offset: 0, length: 10, rawLength: 10 };
  const foreign = [
    // In backupctl's own shape (the scan's fast path) and in another key order (JSON.parse).
    { version: 2, packs: [{ id: id(9), size: 100, blobs: [{ ...blob, offset: 2 ** 32 }] }] },
    { packs: [{ id: id(9), size: 100, blobs: [{ ...blob, length: 2 ** 40 }] }], version: 2 },
    { version: 2, packs: [{ id: id(9), size: 100, blobs: [{ ...blob, rawLength: undefined }] }] },
  ];
  const keys: string[] = [];
  for (const file of foreign) keys.push(`index/${(await repo.saveJson('index/', file)).id}`);

  const reopened = await Repository.open(backend, 'correct horse');
  const loaded = await loadIndex(reopened);
  expect(loaded.files).toBe(0);
  expect(loaded.rejected.sort()).toEqual(keys.sort());
  expect(reopened.index.blobCount).toBe(0);
});

it('a pack header that decrypts but lacks a blob field or overflows 32 bits is damaged (integrity), not loaded', async () => {
  const backend = new MemoryBackend();
  const repo = await Repository.init(backend, 'correct horse', { host: 'test', kdf: FAST_KDF });
  const entry = { id: '1'.repeat(64), type: 'data', offset: 0, length: 10, rawLength: 10 };
  for (const bad of [{ rawLength: undefined }, { rawLength: 2 ** 32 }, { rawLength: -1 }]) {
    const header = await repo.sealMeta(JSON.stringify([{ ...entry, ...bad }]));
    const trailer = Buffer.alloc(PACK_TRAILER_BYTES);
    trailer.writeUInt32LE(header.length);
    const body = Buffer.concat([Buffer.alloc(10), header, trailer]);
    const packId = createHash('sha256').update(body).digest('hex');
    await backend.putIfAbsent(keys.pack(packId), body);
    await expect(readPackHeader(repo, packId, body.length)).rejects.toMatchObject({
      code: ErrorCodes.integrity,
      message: expect.stringContaining('malformed'),
    });
  }
  // The same header with every field is read.
  const header = await repo.sealMeta(JSON.stringify([entry]));
  const trailer = Buffer.alloc(PACK_TRAILER_BYTES);
  trailer.writeUInt32LE(header.length);
  const body = Buffer.concat([Buffer.alloc(10), header, trailer]);
  const packId = createHash('sha256').update(body).digest('hex');
  await backend.putIfAbsent(keys.pack(packId), body);
  expect(await readPackHeader(repo, packId, body.length)).toEqual([entry]);
});
