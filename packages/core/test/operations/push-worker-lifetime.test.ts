import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { describeTree } from '../../../../test/support/tree.js';
import { RepoCache } from '../../src/cache/repo-cache.js';
import { ChunkPool } from '../../src/chunk/chunk-pool.js';
import { push } from '../../src/operations/push.js';
import { restore } from '../../src/operations/restore.js';
import { Repository } from '../../src/repository/repository.js';
import type { Backend } from '../../src/storage/backend.js';
import { LocalBackend } from '../../src/storage/local-backend.js';

const tmp = (name: string) => fs.mkdtemp(path.join(tmpdir(), `bk-${name}-`));

/** Calls on the backend whose first argument is a key, in order ("method key"). */
function recording(backend: Backend, log: string[]): Backend {
  return new Proxy(backend, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (typeof args[0] === 'string') log.push(`${String(prop)} ${args[0]}`);
        return value.apply(target, args);
      };
    },
  });
}

afterEach(() => vi.restoreAllMocks());

describe('push: the chunk workers end with the last file', () => {
  it('stops them before the index and the snapshot are written, and the data restores byte for byte', async () => {
    expect(ChunkPool.available()).toBe(true);
    const source = await tmp('src');
    // Large files (read one by one in a worker) and small ones (batched), some compressible.
    await fs.writeFile(path.join(source, 'large.bin'), randomBytes(3 * 1024 * 1024));
    await fs.writeFile(path.join(source, 'large.txt'), 'a line of text\n'.repeat(200_000));
    await fs.mkdir(path.join(source, 'small'));
    for (let i = 0; i < 200; i++)
      await fs.writeFile(
        path.join(source, 'small', `f${i}`),
        i % 2 ? randomBytes(100 + i * 37) : `text ${i}\n`.repeat(i),
      );
    const log: string[] = [];
    const original = ChunkPool.prototype.close;
    vi.spyOn(ChunkPool.prototype, 'close').mockImplementation(function (this: ChunkPool) {
      log.push('workers closed');
      return original.call(this);
    });
    const backend = recording(new LocalBackend(await tmp('repo')), log);
    const repo = await Repository.init(backend, 'correct horse', {
      host: 'test',
      kdf: { N: 1024, r: 8, p: 1 },
    });
    const cache = new RepoCache(await tmp('cache'), repo.config.id);
    log.length = 0;

    const result = await push(repo, cache, { paths: [source], host: 'test' });
    expect(result.warnings).toEqual([]);
    const closed = log.indexOf('workers closed');
    /** The first write (not a listing) of a key under `prefix`. */
    const written = (prefix: string) =>
      log.findIndex((line) => !line.startsWith('list ') && line.includes(` ${prefix}`));
    const index = written('index/');
    const snapshot = written('snapshots/');
    expect(closed).toBeGreaterThanOrEqual(0);
    expect(index).toBeGreaterThan(closed);
    expect(snapshot).toBeGreaterThan(closed);
    // The data packs were started (staged) while the workers ran.
    const staged = log.findIndex((line) => line.startsWith('stage '));
    expect(staged).toBeGreaterThanOrEqual(0);
    expect(staged).toBeLessThan(closed);

    const target = await tmp('restore');
    await restore(await Repository.open(backend, 'correct horse'), cache, { snapshot: 'latest', target });
    expect(await describeTree(path.join(target, source))).toEqual(await describeTree(source));
  });
});
