import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { RepoCache } from '../../src/cache/repo-cache.js';
import { check } from '../../src/operations/check.js';
import { push } from '../../src/operations/push.js';
import { restore } from '../../src/operations/restore.js';
import { Repository } from '../../src/repository/repository.js';
import { objectNameProblem, verifyObject } from '../../src/repository/verify-object.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';

/**
 * Tampering with every kind of object (issue 11, items 3 and 5): a flipped byte, a cut,
 * a swap, a deletion, a foreign object, an older object under a newer name. None of them
 * may block a restore of what still authenticates, and `check` names each.
 */
const FAST = {
  kdf: { N: 1024, r: 8, p: 1 },
  chunker: { minSize: 8192, avgSize: 32768, maxSize: 131072 },
  packSize: 128 * 1024,
};
const tmp = (name: string) => fs.mkdtemp(path.join(tmpdir(), `bk-tamper-${name}-`));
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

interface Pristine {
  objects: Map<string, Buffer>;
  source: string;
  /** Contents of file.txt in the first and the second snapshot. */
  v1: string;
  v2: string;
  /** Snapshot keys, oldest first; index keys in push order. */
  snapshots: string[];
  indexes: string[];
  keyFile: string;
}

let pristine: Pristine;

beforeAll(async () => {
  const memory = new MemoryBackend();
  const repo = await Repository.init(memory, 'pw', { host: 't', ...FAST });
  const cache = new RepoCache(await tmp('cache'), repo.config.id);
  const source = await tmp('src');
  await fs.writeFile(path.join(source, 'big.bin'), randomBytes(300_000));
  await fs.writeFile(path.join(source, 'file.txt'), 'version one');
  const snapshots: string[] = [];
  const indexes: string[] = [];
  const keysOf = (prefix: string) => [...memory.objects.keys()].filter((k) => k.startsWith(prefix));
  const first = await push(repo, cache, { paths: [source], host: 't' });
  snapshots.push(`snapshots/${first.snapshotId}`);
  indexes.push(...keysOf('index/'));
  await fs.writeFile(path.join(source, 'file.txt'), 'version two, newer');
  // Distinct times: "latest" is by time.
  await new Promise((r) => setTimeout(r, 5));
  const second = await push(await Repository.open(memory, 'pw'), cache, { paths: [source], host: 't' });
  snapshots.push(`snapshots/${second.snapshotId}`);
  indexes.push(...keysOf('index/').filter((k) => !indexes.includes(k)));
  pristine = {
    objects: new Map([...memory.objects].map(([k, v]) => [k, Buffer.from(v)])),
    source,
    v1: 'version one',
    v2: 'version two, newer',
    snapshots,
    indexes,
    keyFile: keysOf('keys/')[0]!,
  };
});

function copy(): MemoryBackend {
  const memory = new MemoryBackend();
  for (const [k, v] of pristine.objects) memory.objects.set(k, Buffer.from(v));
  return memory;
}

function flip(memory: MemoryBackend, key: string, at = 0.5): void {
  const bytes = memory.objects.get(key)!;
  const i = Math.floor(bytes.length * at);
  bytes[i] = bytes[i]! ^ 0x01;
}

async function restoredText(memory: MemoryBackend, snapshot = 'latest'): Promise<string> {
  const target = await tmp('restore');
  await restore(await Repository.open(memory, 'pw'), undefined, { snapshot, target });
  return fs.readFile(path.join(target, pristine.source, 'file.txt'), 'utf8');
}

async function problemsOf(memory: MemoryBackend): Promise<string[]> {
  const result = await check(await Repository.open(memory, 'pw'), undefined, { readData: true });
  expect(result.ok).toBe(false);
  return result.problems.map((p) => p.message);
}

describe('verifyObject: every name is checked against its hash', () => {
  it('accepts an object under its own hash, refuses any other', () => {
    const body = Buffer.from('object');
    expect(() => verifyObject(`index/${sha(body)}`, body)).not.toThrow();
    expect(() => verifyObject(`snapshots/${sha(Buffer.from('other'))}`, body)).toThrow(
      /do not match its name/,
    );
    expect(objectNameProblem('index/not-a-hash', body)).toMatch(/not a SHA-256 hash/);
    expect(objectNameProblem(`data/zz/${sha(body)}`, body)).toMatch(/wrong folder/);
    expect(objectNameProblem(`data/${sha(body).slice(0, 2)}/${sha(body)}`, body)).toBeUndefined();
    expect(objectNameProblem('config', body)).toBeUndefined();
  });
});

describe('a foreign or damaged object is left aside and named', () => {
  const foreign = (prefix: string, hexName: boolean) => (memory: MemoryBackend) => {
    const body = randomBytes(200);
    const key = `${prefix}${hexName ? sha(body) : 'garbage'}`;
    memory.objects.set(key, body);
    return key;
  };
  const cases: Array<[string, (m: MemoryBackend) => string, latest: 'v1' | 'v2']> = [
    ['a foreign object under index/ (named by its hash)', foreign('index/', true), 'v2'],
    ['a foreign object under index/ (not a hash name)', foreign('index/', false), 'v2'],
    ['a foreign object under snapshots/', foreign('snapshots/', true), 'v2'],
    ['a foreign object under keys/', foreign('keys/', true), 'v2'],
    [
      'a foreign key file that is valid JSON',
      (m) => {
        const body = Buffer.from(JSON.stringify({ hello: 'world' }));
        m.objects.set(`keys/${sha(body)}`, body);
        return `keys/${sha(body)}`;
      },
      'v2',
    ],
    [
      'one flipped byte in the newest index',
      (m) => {
        const key = pristine.indexes.at(-1)!;
        flip(m, key);
        return key;
      },
      'v2',
    ],
    [
      'one flipped byte in the oldest index',
      (m) => {
        const key = pristine.indexes[0]!;
        flip(m, key);
        return key;
      },
      'v2',
    ],
    [
      'a truncated index',
      (m) => {
        const key = pristine.indexes[0]!;
        m.objects.set(key, m.objects.get(key)!.subarray(0, 10));
        return key;
      },
      'v2',
    ],
    [
      'one flipped byte in the newest snapshot',
      (m) => {
        const key = pristine.snapshots[1]!;
        flip(m, key);
        return key;
      },
      'v1',
    ],
    [
      'a truncated oldest snapshot',
      (m) => {
        const key = pristine.snapshots[0]!;
        m.objects.set(key, m.objects.get(key)!.subarray(0, 5));
        return key;
      },
      'v2',
    ],
    [
      'an older snapshot under the newer name (silent rollback)',
      (m) => {
        const [older, newer] = pristine.snapshots as [string, string];
        m.objects.set(newer, Buffer.from(m.objects.get(older)!));
        return newer;
      },
      'v1',
    ],
    [
      'an older index under the newer index name',
      (m) => {
        const [older, newer] = [pristine.indexes[0]!, pristine.indexes.at(-1)!];
        m.objects.set(newer, Buffer.from(m.objects.get(older)!));
        return newer;
      },
      'v2',
    ],
    [
      'two index files swapped',
      (m) => {
        const [a, b] = [pristine.indexes[0]!, pristine.indexes.at(-1)!];
        const bodyA = m.objects.get(a)!;
        m.objects.set(a, m.objects.get(b)!);
        m.objects.set(b, bodyA);
        return a;
      },
      'v2',
    ],
  ];

  for (const [what, tamper, latest] of cases) {
    it(`${what}: restores still work, check names it`, async () => {
      const memory = copy();
      const key = tamper(memory);
      const expectLatest = latest === 'v1' ? pristine.v1 : pristine.v2;
      expect(await restoredText(memory)).toBe(expectLatest);
      if (!pristine.snapshots.includes(key)) {
        // Older snapshots are restorable too.
        expect(await restoredText(memory, pristine.snapshots[0]!.slice('snapshots/'.length))).toBe(
          pristine.v1,
        );
      }
      const problems = await problemsOf(memory);
      expect(problems.some((m) => m.includes(key))).toBe(true);
    });
  }

  it('a deleted index: its data is found from the pack headers, check says so', async () => {
    const memory = copy();
    for (const key of pristine.indexes) memory.objects.delete(key);
    expect(await restoredText(memory)).toBe(pristine.v2);
    const problems = await problemsOf(memory);
    expect(problems.join('\n')).toMatch(/no index file lists/);
  });

  it('a deleted snapshot: the other stays restorable', async () => {
    const memory = copy();
    memory.objects.delete(pristine.snapshots[1]!);
    expect(await restoredText(memory)).toBe(pristine.v1);
  });

  it('the only key file damaged: a clear INTEGRITY-free error, not a crash', async () => {
    const memory = copy();
    flip(memory, pristine.keyFile);
    await expect(Repository.open(memory, 'pw')).rejects.toMatchObject({ code: 'REPO_INVALID' });
    await expect(Repository.open(memory, 'pw')).rejects.toThrow(/no usable key file/);
  });

  it('a damaged index does not stop push, which re-indexes the lost packs', async () => {
    const memory = copy();
    flip(memory, pristine.indexes[0]!);
    const repo = await Repository.open(memory, 'pw');
    const cache = new RepoCache(await tmp('cache'), repo.config.id);
    const result = await push(repo, cache, { paths: [pristine.source], host: 't' });
    // Nothing new to upload: the lost index's blobs were found from the pack headers.
    expect(result.snapshot.summary.newBlobs).toBe(0);
    const after = await check(await Repository.open(memory, 'pw'), undefined, { readData: true });
    // Only the rejected index remains a problem; the data it described is indexed again.
    expect(after.problems.map((p) => p.kind)).toEqual(['rejected-object']);
    expect(after.unindexedPacks).toBe(0);
  });
});

describe('check --read-data reads the repository, not the local cache', () => {
  it('an index damaged in the repository fails check even with a good cached copy', async () => {
    const memory = copy();
    const repo = await Repository.open(memory, 'pw');
    const cache = new RepoCache(await tmp('cache'), repo.config.id);
    // Prime the cache with the pristine copies.
    expect((await check(repo, cache, { readData: true })).ok).toBe(true);
    const key = pristine.indexes[0]!;
    expect(await cache.read(key)).toBeDefined();
    flip(memory, key);
    const snapshotKey = pristine.snapshots[0]!;
    flip(memory, snapshotKey);
    const result = await check(await Repository.open(memory, 'pw'), cache, { readData: true });
    const named = result.problems.map((p) => p.key);
    expect(named).toContain(key);
    expect(named).toContain(snapshotKey);
  });

  it('a damaged cached copy is replaced from the repository', async () => {
    const memory = copy();
    const repo = await Repository.open(memory, 'pw');
    const cache = new RepoCache(await tmp('cache'), repo.config.id);
    await check(repo, cache, { readData: true });
    const key = pristine.indexes[0]!;
    await cache.write(key, Buffer.from('not what the repository holds'));
    const result = await check(await Repository.open(memory, 'pw'), cache, { readData: true });
    expect(result.ok).toBe(true);
    expect(result.cacheMismatches).toBe(1);
    expect(await cache.read(key)).toEqual(memory.objects.get(key));
    // Without readData too, a cached copy that fails its name is never trusted.
    await cache.write(key, Buffer.from('damaged again'));
    const quick = await check(await Repository.open(memory, 'pw'), cache);
    expect(quick.ok).toBe(true);
  });
});
