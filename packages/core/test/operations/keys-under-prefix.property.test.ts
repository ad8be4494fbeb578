import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkCommandAccess } from '../../src/access/guard-middleware.js';
import { RepoCache } from '../../src/cache/repo-cache.js';
import { push } from '../../src/operations/push.js';
import { restore } from '../../src/operations/restore.js';
import { Repository } from '../../src/repository/repository.js';
import type { Backend, ByteRange, ObjectInfo, PutResult } from '../../src/storage/backend.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';

const SCOPE = { bucket: 'my-backups', prefix: 'devices/laptop' };

/** Records every key the engine writes, as the S3 backend would address it. */
class RecordingBackend implements Backend {
  readonly location = 'recording:';
  readonly written: string[] = [];
  constructor(private readonly inner = new MemoryBackend()) {}
  putIfAbsent(key: string, body: Uint8Array): Promise<PutResult> {
    this.written.push(key);
    return this.inner.putIfAbsent(key, body);
  }
  get(key: string, range?: ByteRange): Promise<Buffer> {
    return this.inner.get(key, range);
  }
  list(prefix: string): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix);
  }
  stat(key: string): Promise<ObjectInfo | undefined> {
    return this.inner.stat(key);
  }
}

// File names as a user's disk may hold them: unicode, dots, `..`-lookalikes, spaces,
// control characters, up to the 255-byte limit of a name.
const fileName = fc
  .oneof(
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
    fc.constantFrom('..foo', '...', '.hidden', ' lead', 'new\nline', 'tab\there', '%2e%2e', 'back\\slash'),
    fc.string({ unit: 'grapheme-ascii', minLength: 200, maxLength: 255 }),
  )
  .filter(
    (n) => n !== '.' && n !== '..' && !n.includes('/') && !n.includes('\0') && Buffer.byteLength(n) <= 255,
  );

describe('every key the engine writes stays under the device prefix', () => {
  it('whatever the file names and however the paths are spelled', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fileName, { minLength: 1, maxLength: 6 }),
        fc.constantFrom('', '/', '//', '/./', '/sub/../'),
        async (names, spelling) => {
          const root = await fs.mkdtemp(path.join(tmpdir(), 'bk-prop-'));
          await fs.mkdir(path.join(root, 'sub'));
          for (const [i, name] of names.entries()) await fs.writeFile(path.join(root, name), `content ${i}`);
          const backend = new RecordingBackend();
          const repo = await Repository.init(backend, 'pw', { host: 't', kdf: { N: 1024, r: 8, p: 1 } });
          const cache = new RepoCache(path.join(root, '..', `${path.basename(root)}-cache`), repo.config.id);
          // A path with leading slashes, `.` or `..` segments names the same folder.
          const spelled = spelling ? root.replace(/^\//, spelling) : root;
          await push(repo, cache, { paths: [spelled], host: 't' });

          for (const key of backend.written) {
            expect(key).toMatch(
              /^(config|(keys|index|snapshots)\/[0-9a-f]{64}|data\/[0-9a-f]{2}\/[0-9a-f]{64})$/,
            );
            // The exact check the S3 client's guard applies before any request.
            expect(() =>
              checkCommandAccess(
                'PutObjectCommand',
                { Bucket: SCOPE.bucket, Key: `${SCOPE.prefix}/${key}`, IfNoneMatch: '*' },
                SCOPE,
              ),
            ).not.toThrow();
          }
          // And the names come back as they were.
          const target = path.join(root, '..', `${path.basename(root)}-restore`);
          await restore(repo, cache, { snapshot: 'latest', target });
          const restored = (await fs.readdir(path.join(target, root))).sort();
          expect(restored).toEqual([...names, 'sub'].sort());
          await fs.rm(root, { recursive: true, force: true });
          await fs.rm(target, { recursive: true, force: true });
        },
      ),
      { numRuns: 25 },
    );
  });
});
