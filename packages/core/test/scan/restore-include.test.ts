import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RepoCache } from '../../src/cache/repo-cache.js';
import { push } from '../../src/operations/push.js';
import { restore } from '../../src/operations/restore.js';
import { Repository } from '../../src/repository/repository.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';

const tmp = (name: string) => fs.mkdtemp(path.join(tmpdir(), `bk-${name}-`));

describe('restore --include follows the exclude rules', () => {
  it('a relative pattern matches at any depth and brings the folder’s contents', async () => {
    const backend = new MemoryBackend();
    const repo = await Repository.init(backend, 'pw', { host: 't', kdf: { N: 1024, r: 8, p: 1 } });
    const src = await tmp('src');
    for (const rel of ['a/notes/1.txt', 'b/c/notes/2.txt', 'b/other.txt', 'notes.txt']) {
      await fs.mkdir(path.dirname(path.join(src, rel)), { recursive: true });
      await fs.writeFile(path.join(src, rel), rel);
    }
    await push(repo, new RepoCache(await tmp('cache'), repo.config.id), { paths: [src], host: 't' });
    const target = await tmp('restore');
    const result = await restore(await Repository.open(backend, 'pw'), undefined, {
      snapshot: 'latest',
      target,
      include: ['notes'],
    });
    expect(result.files).toBe(2);
    expect(await fs.readFile(path.join(target, src, 'b/c/notes/2.txt'), 'utf8')).toBe('b/c/notes/2.txt');
    await expect(fs.access(path.join(target, src, 'b/other.txt'))).rejects.toThrow();
  });
});
