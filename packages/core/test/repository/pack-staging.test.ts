import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpProxy } from '../../../../test/fixtures/http-proxy.js';
import { type ConditionalS3, startConditionalS3 } from '../../../../test/fixtures/s3-conditional-proxy.js';
import type { BlobEntry } from '../../src/repository/format.js';
import { PackWriter, parsePack } from '../../src/repository/pack.js';
import { Repository } from '../../src/repository/repository.js';
import type { Backend } from '../../src/storage/backend.js';
import { LocalBackend } from '../../src/storage/local-backend.js';
import { S3Backend } from '../../src/storage/s3-backend.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';

/**
 * Packs are written to a staged object (a temporary file) as blobs come, never held whole
 * in memory: the bytes stored must be the ones a pack gathered in memory would hold, the
 * id the SHA-256 of the stored bytes, no temporary file left, one PUT per pack on S3.
 */
const FAST = {
  kdf: { N: 1024, r: 8, p: 1 },
  chunker: { minSize: 8192, avgSize: 32768, maxSize: 131072 },
  packSize: 3 * 1024 * 1024,
  compression: 'off' as const,
};
const tmp = (name: string) => fs.mkdtemp(path.join(tmpdir(), `bk-${name}-`));

/** Sizes that take every path: many blobs per write buffer, blobs that straddle one, blobs larger than one. */
const SIZES = [
  ...Array.from({ length: 300 }, (_, i) => 500 + ((i * 977) % 6000)),
  1536 * 1024,
  300 * 1024,
  2 * 1024 * 1024 + 17,
  ...Array.from({ length: 40 }, (_, i) => 20_000 + i * 1000),
  900 * 1024,
  1024 * 1024 + 1,
];

/** The blobs sealed once, so two writers can be given the very same sealed bytes. */
async function sealedBlobs(repo: Repository) {
  const out: Array<{ id: string; plain: Buffer; sealed: Buffer; compressed: boolean }> = [];
  for (const size of SIZES) {
    const plain = randomBytes(size);
    const { sealed, compressed } = await repo.sealBlob(plain);
    out.push({ id: await repo.blobId(plain), plain, sealed, compressed });
  }
  return out;
}

async function writeAll(
  repo: Repository,
  blobs: Awaited<ReturnType<typeof sealedBlobs>>,
  scratchDir?: string,
) {
  const packer = new PackWriter(repo, 2, {}, scratchDir ? { scratchDir } : {});
  // Placed concurrently, as the chunk workers' results come: the writer orders them.
  await Promise.all(
    blobs.map(async (b) => {
      expect(packer.claim(b.id)).toBe(true);
      // A view into a larger buffer, reused by the caller once place settles.
      const view = Buffer.concat([Buffer.alloc(7), b.sealed]).subarray(7);
      await packer.place(b.id, 'data', view, b.plain.length, b.compressed);
      view.fill(0);
    }),
  );
  await packer.flush();
  return packer.takeWritten();
}

/** Each stored pack: its bytes hash to its id, its header parses, every blob opens to its plaintext. */
async function verifyStored(
  repo: Repository,
  backend: Backend,
  blobs: Awaited<ReturnType<typeof sealedBlobs>>,
) {
  const byId = new Map(blobs.map((b) => [b.id, b]));
  const packs: Array<{ id: string; body: Buffer; entries: BlobEntry[] }> = [];
  let found = 0;
  for await (const info of backend.list('data/')) {
    const id = info.key.split('/').at(-1)!;
    const body = await backend.get(info.key);
    expect(createHash('sha256').update(body).digest('hex')).toBe(id);
    const entries = await parsePack(repo, id, body);
    for (const entry of entries) {
      const blob = byId.get(entry.id)!;
      const sealed = body.subarray(entry.offset, entry.offset + entry.length);
      expect(Buffer.compare(sealed, blob.sealed)).toBe(0);
      const plain = await repo.openBlob(sealed, { ...entry, pack: id });
      expect(Buffer.compare(Buffer.from(plain), blob.plain)).toBe(0);
      found++;
    }
    packs.push({ id, body, entries });
  }
  expect(found).toBe(blobs.length);
  return packs;
}

/** A pack's bytes before its header: the blobs as placed. */
function blobArea(pack: { body: Buffer }): Buffer {
  const headerLength = pack.body.readUInt32LE(pack.body.length - 4);
  return pack.body.subarray(0, pack.body.length - 4 - headerLength);
}

describe('packs written through a temporary file (local repository)', () => {
  it('hold the same bytes as packs gathered in memory, and leave no temporary file', async () => {
    const root = await tmp('stage-local');
    const local = new LocalBackend(root);
    await Repository.init(local, 'pw', { host: 't', ...FAST });
    const repo = await Repository.open(local, 'pw');
    const blobs = await sealedBlobs(repo);
    const written = await writeAll(repo, blobs);
    expect(written.length).toBeGreaterThanOrEqual(2);
    const onDisk = await verifyStored(repo, local, blobs);
    expect(onDisk.map((p) => p.id).sort()).toEqual(written.map((p) => p.id).sort());
    expect(await fs.readdir(path.join(root, '.tmp'))).toEqual([]);

    // The same sealed blobs through the in-memory staging (a backend without `stage`).
    const memory = new MemoryBackend();
    for (const [key, body] of (await readAllObjects(local)).entries()) {
      if (key === 'config' || key.startsWith('keys/')) await memory.putIfAbsent(key, body);
    }
    const repoInMemory = await Repository.open(memory, 'pw');
    await writeAll(repoInMemory, blobs);
    const inMemory = await verifyStored(repoInMemory, memory, blobs);
    // Headers are sealed with a fresh nonce each: what must match is every blob's place and bytes.
    const key = (p: { entries: BlobEntry[] }) => p.entries.map((e) => e.id).join();
    const fromMemory = new Map(inMemory.map((p) => [key(p), p]));
    for (const pack of onDisk) {
      const twin = fromMemory.get(key(pack));
      expect(twin).toBeDefined();
      expect(twin!.entries).toEqual(pack.entries);
      expect(Buffer.compare(blobArea(twin!), blobArea(pack))).toBe(0);
    }
  });

  it('a failed push (abandon) removes the pack being written', async () => {
    const root = await tmp('stage-abandon');
    const local = new LocalBackend(root);
    await Repository.init(local, 'pw', { host: 't', ...FAST });
    const repo = await Repository.open(local, 'pw');
    const packer = new PackWriter(repo, 1);
    const plain = randomBytes(100_000);
    await packer.add(await repo.blobId(plain), 'data', plain);
    await packer.add('ab'.repeat(32), 'data', randomBytes(2 * 1024 * 1024));
    expect((await fs.readdir(path.join(root, '.tmp'))).filter((n) => n.endsWith('.part'))).toHaveLength(1);
    await packer.abandon();
    expect(await fs.readdir(path.join(root, '.tmp'))).toEqual([]);
    await expect(packer.add('cd'.repeat(32), 'data', plain)).rejects.toThrow(/abandoned/);
  });
});

async function readAllObjects(backend: Backend): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for await (const info of backend.list('')) out.set(info.key, await backend.get(info.key));
  return out;
}

describe('packs written through a temporary file (S3, s3rver)', () => {
  let s3: ConditionalS3;
  beforeAll(async () => {
    s3 = await startConditionalS3();
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it('uploads each pack from its file with one PUT, the right bytes, and removes the file', async () => {
    await s3.server.createBucket('staged');
    const backend = new S3Backend(s3.client(), { bucket: 'staged', prefix: 'dev' });
    await Repository.init(backend, 'pw', { host: 't', ...FAST });
    const repo = await Repository.open(backend, 'pw');
    const blobs = await sealedBlobs(repo);
    const scratch = await tmp('stage-s3');
    const before = s3.proxy.requests.length;
    const written = await writeAll(repo, blobs, scratch);
    const puts = s3.proxy.requests.slice(before).filter((r) => r.method === 'PUT');
    expect(puts).toHaveLength(written.length);
    expect(puts.every((r) => r.path.startsWith('/staged/dev/data/') && r.ifNoneMatch === '*')).toBe(true);
    await verifyStored(repo, backend, blobs);
    expect(await fs.readdir(scratch)).toEqual([]);
  });

  it('a PUT that fails is retried with the whole file again (the SDK cannot rewind a stream)', async () => {
    await s3.server.createBucket('retried');
    let failed = 0;
    const bodies: Buffer[] = [];
    const flaky = await startHttpProxy({
      upstream: s3.proxy.endpoint,
      async onRequest(request) {
        if (request.method !== 'PUT' || !request.path.includes('/data/')) return undefined;
        const body = await request.body();
        bodies.push(body);
        // The first pack PUT: the server answers 500 after reading the body.
        return failed++ === 0
          ? { status: 500, body: '<Error><Code>InternalError</Code></Error>' }
          : undefined;
      },
    });
    const client = new S3Client({
      endpoint: flaky.url,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: s3.server.credentials,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      maxAttempts: 3,
    });
    try {
      const backend = new S3Backend(client, { bucket: 'retried', prefix: 'dev' });
      await Repository.init(backend, 'pw', { host: 't', ...FAST });
      const repo = await Repository.open(backend, 'pw');
      const blobs = (await sealedBlobs(repo)).slice(0, 60);
      const written = await writeAll(repo, blobs, await tmp('stage-retry'));
      expect(written).toHaveLength(1);
      // Twice the same whole body: the retry read the file again from its start.
      expect(bodies).toHaveLength(2);
      expect(bodies[0]!.length).toBe(written[0]!.size);
      expect(Buffer.compare(bodies[0]!, bodies[1]!)).toBe(0);
      await verifyStored(repo, backend, blobs);
    } finally {
      client.destroy();
      await flaky.stop();
    }
  });
});
