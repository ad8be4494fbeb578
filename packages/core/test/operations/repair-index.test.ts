import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { check } from '../../src/operations/check.js';
import { push } from '../../src/operations/push.js';
import { repairIndex } from '../../src/operations/repair-index.js';
import { Repository } from '../../src/repository/repository.js';
import { LocalBackend } from '../../src/storage/local-backend.js';
import { localRepo, tmp } from '../restore/helpers.js';

async function objects(dir: string, sub: string): Promise<string[]> {
  return (await fs.readdir(path.join(dir, sub)).catch(() => [])).sort();
}

describe('repair index', () => {
  it('a garbage index file: the packs it hid are indexed anew from their headers; the garbage stays', async () => {
    const { repo, cache, repoDir } = await localRepo();
    const src = await tmp('src');
    await fs.writeFile(path.join(src, 'a.bin'), randomBytes(300_000));
    await push(repo, cache, { paths: [src], host: 'test' });
    const [real] = await objects(repoDir, 'index');
    // A damaged copy under the real index's name, and a foreign object beside it.
    await fs.writeFile(path.join(repoDir, 'index', real!), 'garbage');
    await fs.writeFile(path.join(repoDir, 'index', 'f'.repeat(64)), 'foreign');
    const packs = (await fs.readdir(path.join(repoDir, 'data'), { recursive: true }))
      .filter((p) => /[0-9a-f]{64}$/.test(p))
      .map((p) => path.basename(p))
      .sort();

    const open = () => Repository.open(new LocalBackend(repoDir), 'pw');
    const dry = await repairIndex(await open(), undefined, { dryRun: true });
    expect(dry.packs.map((p) => p.id)).toEqual(packs);
    expect(dry.rejectedIndexes.sort()).toEqual([`index/${real}`, `index/${'f'.repeat(64)}`].sort());
    expect(dry.indexId).toBeUndefined();
    expect(await objects(repoDir, 'index')).toHaveLength(2);

    const done = await repairIndex(await open(), undefined);
    expect(done.indexId).toMatch(/^[0-9a-f]{64}$/);
    expect(await objects(repoDir, 'index')).toEqual([real!, 'f'.repeat(64), done.indexId!].sort());

    // With the new index, nothing needs the headers any more: only the two bad objects remain as problems.
    const after = await check(await open(), undefined, { readData: true });
    expect(after.recoveredPacks).toBe(0);
    expect(after.unindexedPackIds).toEqual([]);
    expect(after.problems.map((p) => p.kind)).toEqual(['rejected-object', 'rejected-object']);
  });
});
