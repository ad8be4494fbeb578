import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConditionalS3, startConditionalS3 } from '../../../../test/fixtures/s3-conditional-proxy.js';
import { describeTree, makeEdgeCaseTree } from '../../../../test/support/tree.js';
import { RepoCache } from '../../src/cache/repo-cache.js';
import { check } from '../../src/operations/check.js';
import { push } from '../../src/operations/push.js';
import { restore } from '../../src/operations/restore.js';
import { listSnapshots } from '../../src/operations/snapshots.js';
import { Repository } from '../../src/repository/repository.js';
import type { Backend } from '../../src/storage/backend.js';
import { LocalBackend } from '../../src/storage/local-backend.js';
import { S3Backend } from '../../src/storage/s3-backend.js';

const FAST_KDF = { N: 1024, r: 8, p: 1 };
const SMALL = {
  chunker: { minSize: 16 * 1024, avgSize: 64 * 1024, maxSize: 256 * 1024 },
  packSize: 512 * 1024,
};

let s3: ConditionalS3;
let bucketCount = 0;

beforeAll(async () => {
  s3 = await startConditionalS3();
});
afterAll(async () => {
  await s3?.stop();
});

const tmp = (name: string) => fs.mkdtemp(path.join(tmpdir(), `bk-${name}-`));

const backends: Array<[string, () => Promise<Backend>]> = [
  ['local', async () => new LocalBackend(await tmp('repo'))],
  [
    's3',
    async () => {
      const bucket = `rt-${++bucketCount}`;
      await s3.server.createBucket(bucket);
      const client = s3.client();
      return new S3Backend(client, { bucket, prefix: 'devices/test' });
    },
  ],
];

describe.each(backends)('round trip on the %s backend', (_name, makeBackend) => {
  it('init, push, modify, push, restore both snapshots bit-exact, check', async () => {
    const backend = await makeBackend();
    const source = await tmp('src');
    await makeEdgeCaseTree(source);
    const repo = await Repository.init(backend, 'correct horse', { host: 'test', kdf: FAST_KDF, ...SMALL });
    const cache = new RepoCache(await tmp('cache'), repo.config.id);

    const first = await push(repo, cache, { paths: [source], host: 'test' });
    expect(first.warnings).toEqual([]);
    const before = await describeTree(source);

    await fs.writeFile(path.join(source, 'docs/readme.txt'), 'changed\n');
    await fs.rm(path.join(source, 'bin'), { recursive: true });
    await fs.writeFile(path.join(source, 'docs/added.txt'), randomBytes(100));
    const reopened = await Repository.open(backend, 'correct horse');
    const second = await push(reopened, cache, { paths: [source], host: 'test' });
    const after = await describeTree(source);
    expect(second.snapshot.summary.newBytes).toBeLessThan(10_000);

    const snapshots = await listSnapshots(reopened, cache);
    expect(snapshots.map((s) => s.id)).toEqual([first.snapshotId, second.snapshotId]);

    const target1 = await tmp('restore1');
    await restore(reopened, cache, { snapshot: first.snapshotId.slice(0, 8), target: target1 });
    expect(await describeTree(path.join(target1, source))).toEqual(before);

    const target2 = await tmp('restore2');
    const result = await restore(reopened, cache, { snapshot: 'latest', target: target2 });
    expect(await describeTree(path.join(target2, source))).toEqual(after);
    expect(result.files).toBe([...after.values()].filter((e) => e.type === 'file').length);

    const checked = await check(reopened, cache, { readData: true });
    expect(checked.problems).toEqual([]);
    expect(checked.snapshots).toBe(2);
  });

  it('restores only what --include selects', async () => {
    const backend = await makeBackend();
    const source = await tmp('src');
    await makeEdgeCaseTree(source);
    const repo = await Repository.init(backend, 'pw', { host: 'test', kdf: FAST_KDF, ...SMALL });
    const cache = new RepoCache(await tmp('cache'), repo.config.id);
    await push(repo, cache, { paths: [source], host: 'test' });
    const target = await tmp('restore');
    const result = await restore(repo, cache, {
      snapshot: 'latest',
      target,
      include: [path.join(source, 'docs')],
    });
    const restored = await describeTree(path.join(target, source));
    expect([...restored.keys()].every((k) => k === 'docs' || k.startsWith('docs/'))).toBe(true);
    expect(restored.get('docs/readme.txt')?.size).toBe(6);
    expect(result.files).toBe(5);
  });
});
