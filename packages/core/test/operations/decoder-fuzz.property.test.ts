import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { BackupctlError, ErrorCodes } from '../../src/errors/index.js';
import { keys } from '../../src/repository/format.js';
import { loadIndex } from '../../src/repository/index-sync.js';
import { parsePack, readPackHeader } from '../../src/repository/pack.js';
import { Repository } from '../../src/repository/repository.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';

/**
 * Fuzzing the decoders of repository objects (issue 11): whatever bytes sit under
 * `index/`, `snapshots/`, `keys/` or `data/` — random, or well-encrypted JSON of any shape
 * (what a thief holding the device key could write) — reading them either works or fails
 * with an INTEGRITY error that names the object. Never a TypeError, never a crash.
 */
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const isIntegrity = (e: unknown) => BackupctlError.is(e) && e.code === ErrorCodes.integrity;

let memory: MemoryBackend;
let repo: Repository;

beforeAll(async () => {
  memory = new MemoryBackend();
  repo = await Repository.init(memory, 'pw', { host: 'f', kdf: { N: 1024, r: 8, p: 1 } });
});

/** Any JSON, and JSON shaped almost like our objects (the interesting near-misses). */
const nearMiss = fc.oneof(
  fc.jsonValue(),
  fc.record({
    version: fc.constant(1),
    packs: fc.oneof(
      fc.jsonValue(),
      fc.array(fc.record({ id: fc.jsonValue(), size: fc.jsonValue(), blobs: fc.jsonValue() })),
    ),
  }),
  fc.record({
    version: fc.constant(1),
    time: fc.oneof(fc.string(), fc.jsonValue()),
    tree: fc.oneof(fc.string(), fc.jsonValue()),
    paths: fc.jsonValue(),
  }),
  fc.record({
    nodes: fc.oneof(
      fc.jsonValue(),
      fc.array(
        fc.record({
          name: fc.jsonValue(),
          type: fc.constantFrom('file', 'dir', 'symlink', 'x'),
          chunks: fc.jsonValue(),
          subtree: fc.jsonValue(),
        }),
      ),
    ),
  }),
);
const bytesOrSealed = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => ({ bytes: Buffer.from(b), sealed: false })),
  nearMiss.map((v) => ({ json: v, sealed: true })),
);

async function materialise(input: { bytes?: Buffer; json?: unknown; sealed: boolean }): Promise<Buffer> {
  if (!input.sealed) return input.bytes!;
  return repo.seal(Buffer.from(JSON.stringify(input.json) ?? 'null'));
}

async function fresh(): Promise<Repository> {
  for (const key of [...memory.objects.keys()]) {
    if (!key.startsWith('keys/') && key !== 'config') memory.objects.delete(key);
  }
  return Repository.open(memory, 'pw');
}

describe('repository object decoders under fuzzing', () => {
  it('index files: loaded or set aside as INTEGRITY, never a crash', async () => {
    await fc.assert(
      fc.asyncProperty(bytesOrSealed, fc.boolean(), async (input, rightName) => {
        const r = await fresh();
        const body = await materialise(input);
        const key = `index/${rightName ? sha(body) : sha(Buffer.from('other'))}`;
        memory.objects.set(key, body);
        const loaded = await loadIndex(r);
        expect(loaded.files + loaded.rejected.length).toBe(1);
        if (loaded.rejected.length === 1) expect(r.rejected.get(key)?.reason).toBeTruthy();
        if (!rightName) expect(loaded.rejected).toEqual([key]);
      }),
      { numRuns: 150 },
    );
  });

  it('snapshots and the trees they name: listed, or set aside; walking a tree fails only as INTEGRITY', async () => {
    await fc.assert(
      fc.asyncProperty(bytesOrSealed, bytesOrSealed, async (snapshotInput, treeInput) => {
        const r = await fresh();
        const body = await materialise(snapshotInput);
        memory.objects.set(keys.snapshot(sha(body)), body);
        const listed = await r.listSnapshots();
        expect(listed.length + r.rejected.size).toBe(1);
        // A tree blob of any content, correctly indexed, read back.
        const plain = Buffer.from(JSON.stringify('json' in treeInput ? treeInput.json : 'x') ?? 'null');
        const id = await r.blobId(plain);
        const sealed = await r.seal(plain);
        r.index.add({
          version: 1,
          packs: [
            {
              id: 'a'.repeat(64),
              size: sealed.length,
              blobs: [{ id, type: 'tree', offset: 0, length: sealed.length, rawLength: plain.length }],
            },
          ],
        });
        memory.objects.set(keys.pack('a'.repeat(64)), sealed);
        try {
          const tree = await r.readTree(id);
          expect(Array.isArray(tree.nodes)).toBe(true);
        } catch (error) {
          expect(isIntegrity(error), String(error)).toBe(true);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('pack headers: parsed, or INTEGRITY', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 200 }),
        nearMiss,
        fc.boolean(),
        async (prefix, header, sealHeader) => {
          const head = sealHeader
            ? await repo.seal(Buffer.from(JSON.stringify(header) ?? 'null'))
            : Buffer.from(prefix);
          const trailer = Buffer.alloc(4);
          trailer.writeUInt32LE(head.length);
          const body = Buffer.concat([Buffer.from(prefix), head, trailer]);
          const id = sha(body);
          memory.objects.set(keys.pack(id), body);
          for (const read of [() => parsePack(repo, id, body), () => readPackHeader(repo, id, body.length)]) {
            try {
              const entries = await read();
              expect(Array.isArray(entries)).toBe(true);
            } catch (error) {
              expect(isIntegrity(error), String(error)).toBe(true);
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('key files: a foreign one never stops the right key from opening', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
          nearMiss.map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
        ),
        async (body) => {
          // Sorted before the real key file, so it is read first.
          const key = `keys/${'0'.repeat(63)}${sha(body).slice(0, 1)}`;
          const named = `keys/${sha(body)}`;
          memory.objects.set(key, body);
          memory.objects.set(named, body);
          try {
            await expect(Repository.open(memory, 'pw')).resolves.toBeInstanceOf(Repository);
          } finally {
            memory.objects.delete(key);
            memory.objects.delete(named);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
