import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RepoCache } from '../../src/cache/repo-cache.js';
import { check } from '../../src/operations/check.js';
import { push } from '../../src/operations/push.js';
import { restore } from '../../src/operations/restore.js';
import type { IndexFile } from '../../src/repository/format.js';
import { loadIndex } from '../../src/repository/index-sync.js';
import { Repository } from '../../src/repository/repository.js';
import { LocalBackend } from '../../src/storage/local-backend.js';

const FAST_KDF = { N: 1024, r: 8, p: 1 };
const SMALL = {
  chunker: { minSize: 16 * 1024, avgSize: 64 * 1024, maxSize: 256 * 1024 },
  packSize: 512 * 1024,
};
const tmp = (name: string) => fs.mkdtemp(path.join(tmpdir(), `bk-${name}-`));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await fs.stat(path.join(entry.parentPath, entry.name))).size;
  }
  return total;
}

async function makeSource(): Promise<{ dir: string; text: Buffer; random: Buffer }> {
  const dir = await tmp('src');
  const text = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(20_000));
  const random = randomBytes(300_000);
  await fs.writeFile(path.join(dir, 'text.txt'), text);
  await fs.writeFile(path.join(dir, 'random.bin'), random);
  return { dir, text, random };
}

async function pushWith(mode: 'auto' | 'max' | 'off') {
  const { dir, text, random } = await makeSource();
  const repoDir = await tmp('repo');
  const repo = await Repository.init(new LocalBackend(repoDir), 'pw', { host: 't', kdf: FAST_KDF, ...SMALL });
  const cache = new RepoCache(await tmp('cache'), repo.config.id);
  const result = await push(repo, cache, { paths: [dir], host: 't', compression: mode });
  return { dir, text, random, repoDir, repo, cache, result };
}

describe('compression (format version 2)', () => {
  it('new repositories are version 2; auto stores text compressed and random data as it is', async () => {
    const { repo, repoDir, cache, result, dir, text, random } = await pushWith('auto');
    expect(repo.config.version).toBe(2);
    // 880 KB of text + 300 KB of random: the text shrinks to almost nothing, random does not.
    expect(await folderBytes(path.join(repoDir, 'data'))).toBeLessThan(random.length + 60_000);

    const reopened = await Repository.open(new LocalBackend(repoDir), 'pw');
    await loadIndex(reopened);
    const entries = [...(await fs.readdir(path.join(repoDir, 'index')))];
    const index = await reopened.loadJson<IndexFile>(`index/${entries[0]}`);
    const data = index.packs.flatMap((p) => p.blobs).filter((b) => b.type === 'data');
    expect(data.some((b) => b.compressed && b.length < b.rawLength / 10)).toBe(true);
    expect(data.some((b) => !b.compressed && b.length > b.rawLength)).toBe(true);
    // Metadata is compressed too: the stored index file is a zstd frame after the marker.
    const sealed = await fs.readFile(path.join(repoDir, 'index', entries[0]!));
    expect((await reopened.open(sealed, 'index'))[0]).toBe(0x02);

    const target = await tmp('restore');
    await restore(reopened, cache, { snapshot: result.snapshotId, target });
    expect(sha(await fs.readFile(path.join(target, dir, 'text.txt')))).toBe(sha(text));
    expect(sha(await fs.readFile(path.join(target, dir, 'random.bin')))).toBe(sha(random));
    const checked = await check(reopened, undefined, { readData: true });
    expect(checked.problems).toEqual([]);
  });

  it('off stores every blob as it is and still restores', async () => {
    const { repoDir, repo, cache, result, dir, text } = await pushWith('off');
    expect(await folderBytes(path.join(repoDir, 'data'))).toBeGreaterThan(text.length);
    const target = await tmp('restore');
    await restore(repo, cache, { snapshot: result.snapshotId, target });
    expect(sha(await fs.readFile(path.join(target, dir, 'text.txt')))).toBe(sha(text));
  });

  it('max compresses too (chunk boundaries differ per repository, so sizes are not compared)', async () => {
    const { repoDir, random } = await pushWith('max');
    expect(await folderBytes(path.join(repoDir, 'data'))).toBeLessThan(random.length + 60_000);
  });
});

describe('a format version 1 repository (made by the version 1 code)', () => {
  const fixture = path.join(import.meta.dirname, '../fixtures/repo-v1');

  it('is read, restored and checked; a push into it stays version 1, uncompressed', async () => {
    const expected = JSON.parse(
      await fs.readFile(path.join(import.meta.dirname, '../fixtures/repo-v1.expected.json'), 'utf8'),
    ) as { password: string; source: string; snapshot: string; files: Record<string, string>; link: string };
    const copy = await tmp('v1');
    await fs.cp(fixture, copy, { recursive: true });
    const repo = await Repository.open(new LocalBackend(copy), expected.password);
    expect(repo.config.version).toBe(1);
    expect(repo.compression).toBe('off');
    const cache = new RepoCache(await tmp('cache'), repo.config.id);

    const target = await tmp('restore');
    await restore(repo, cache, { snapshot: expected.snapshot, target });
    for (const [rel, hash] of Object.entries(expected.files)) {
      expect(sha(await fs.readFile(path.join(target, expected.source, rel)))).toBe(hash);
    }
    expect(await fs.readlink(path.join(target, expected.source, 'link'))).toBe(expected.link);
    expect((await check(repo, cache, { readData: true })).problems).toEqual([]);

    const { dir } = await makeSource();
    const pushed = await push(repo, cache, { paths: [dir], host: 't', compression: 'max' });
    expect(pushed.snapshot.version).toBe(1);
    const reopened = await Repository.open(new LocalBackend(copy), expected.password);
    await loadIndex(reopened);
    for (const name of await fs.readdir(path.join(copy, 'index'))) {
      const plain = await reopened.open(await fs.readFile(path.join(copy, 'index', name)), 'index');
      expect(String.fromCharCode(plain[0]!)).toBe('{');
      const file = JSON.parse(plain.toString()) as IndexFile;
      expect(file.packs.flatMap((p) => p.blobs).every((b) => b.compressed === undefined)).toBe(true);
    }
  });
});
