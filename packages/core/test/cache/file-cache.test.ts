import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { FileCache, type FileFingerprint } from '../../src/cache/file-cache.js';

const id = (s: string) => createHash('sha256').update(s).digest('hex');
const fp = (i: number): FileFingerprint => ({
  size: i * 1000,
  mtimeNs: 1_700_000_000_123_456_789n + BigInt(i),
  ctimeNs: 1_700_000_000_987_654_321n + BigInt(i),
  ino: 9_000_000_000_000n + BigInt(i),
});

it('finds every recorded file after a save (20,000 files, long and non-ASCII paths), and only with the same fingerprint', async () => {
  const file = path.join(await fs.mkdtemp(path.join(tmpdir(), 'bk-fc-')), 'files.bin');
  const first = await FileCache.load(file, ['/home/me']);
  const name = (i: number) => `/home/me/${i % 7 === 0 ? 'é'.repeat(200) : 'd'}/${i}.txt`;
  for (let i = 0; i < 20_000; i++)
    first.record(name(i), fp(i), i % 3 ? [id(`a${i}`)] : [id(`a${i}`), id(`b${i}`)]);
  await first.save();

  const second = await FileCache.load(file, ['/home/me']);
  for (const i of [0, 1, 2, 7, 9_999, 19_999]) {
    expect(second.lookup(name(i), fp(i))).toEqual(i % 3 ? [id(`a${i}`)] : [id(`a${i}`), id(`b${i}`)]);
  }
  expect(second.lookup(name(5), { ...fp(5), mtimeNs: fp(6).mtimeNs })).toBeUndefined();
  expect(second.lookup(name(5), { ...fp(5), ino: 1n })).toBeUndefined();
  expect(second.lookup('/home/me/d/20000.txt', fp(20_000))).toBeUndefined();
  second.discard();
});

it('a push of other roots keeps the entries outside them; a push of a root replaces its entries', async () => {
  const file = path.join(await fs.mkdtemp(path.join(tmpdir(), 'bk-fc-')), 'files.bin');
  const a = await FileCache.load(file, ['/a', '/b']);
  a.record('/a/x', fp(1), [id('x')]);
  a.record('/b/y', fp(2), [id('y')]);
  await a.save();
  const b = await FileCache.load(file, ['/a']);
  b.record('/a/z', fp(3), [id('z')]);
  await b.save();
  const c = await FileCache.load(file, ['/a', '/b']);
  expect(c.lookup('/a/x', fp(1))).toBeUndefined();
  expect(c.lookup('/a/z', fp(3))).toEqual([id('z')]);
  expect(c.lookup('/b/y', fp(2))).toEqual([id('y')]);
  c.discard();
});

it('a damaged cache file is ignored (a full read, never a wrong answer)', async () => {
  const file = path.join(await fs.mkdtemp(path.join(tmpdir(), 'bk-fc-')), 'files.bin');
  const a = await FileCache.load(file, ['/a']);
  a.record('/a/x', fp(1), [id('x')]);
  await a.save();
  const bytes = await fs.readFile(file);
  await fs.writeFile(file, bytes.subarray(0, bytes.length - 5));
  const b = await FileCache.load(file, ['/a']);
  expect(b.lookup('/a/x', fp(1))).toBeUndefined();
  b.discard();
});

it('a push that records what the last one did leaves files.bin untouched (compared, never rewritten)', async () => {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'bk-fc-'));
  const file = path.join(dir, 'files.bin');
  const names = Array.from({ length: 5_000 }, (_, i) => `/home/me/d${i % 50}/${i}.txt`);
  const run = async (edit?: number) => {
    const cache = await FileCache.load(file, ['/home/me', '/other']);
    for (const [i, name] of names.entries()) {
      const f = i === edit ? { ...fp(i), mtimeNs: 1n } : fp(i);
      if (i !== edit) expect(cache.lookup(name, f) ?? [id(name)]).toEqual([id(name)]);
      cache.record(name, f, [id(name)]);
    }
    const rewriting = cache.rewriting;
    await cache.save();
    return rewriting;
  };
  expect(await run()).toBe(true); // the first push writes it
  const before = await fs.stat(file);
  const bytes = await fs.readFile(file);
  expect(await run()).toBe(false);
  const after = await fs.stat(file);
  // Not written and not replaced: the same inode, modification time and bytes.
  expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
  expect((await fs.readFile(file)).equals(bytes)).toBe(true);
  expect(await fs.readdir(dir)).toEqual(['files.bin']);

  // One file changed in the middle: rewritten, the equal prefix copied, every entry kept.
  expect(await run(2_500)).toBe(true);
  const third = await FileCache.load(file, ['/home/me']);
  expect(third.size).toBe(5_000);
  expect(third.lookup(names[0]!, fp(0))).toEqual([id(names[0]!)]);
  expect(third.lookup(names[2_500]!, { ...fp(2_500), mtimeNs: 1n })).toEqual([id(names[2_500]!)]);
  expect(third.lookup(names[4_999]!, fp(4_999))).toEqual([id(names[4_999]!)]);
  third.discard();
});

it('holds in its table only the entries under the pushed roots; the others are passed on unread', async () => {
  const file = path.join(await fs.mkdtemp(path.join(tmpdir(), 'bk-fc-')), 'files.bin');
  const a = await FileCache.load(file, ['/a', '/b', '/ab']);
  for (let i = 0; i < 100; i++) a.record(`/b/${i}`, fp(i), [id(`b${i}`)]);
  a.record('/a/x', fp(1), [id('x')]);
  a.record('/ab/y', fp(2), [id('y')]);
  await a.save();
  const b = await FileCache.load(file, ['/a']);
  expect(b.size).toBe(1); // '/ab/y' is not under '/a'
  b.record('/a/x', fp(1), [id('x')]);
  await b.save();
  const c = await FileCache.load(file, ['/b', '/ab']);
  expect(c.size).toBe(101);
  expect(c.lookup('/b/99', fp(99))).toEqual([id('b99')]);
  expect(c.lookup('/ab/y', fp(2))).toEqual([id('y')]);
  c.discard();
});

it('remembers per file whether it had no xattrs (a flag of the record), kept through a push of other roots', async () => {
  const file = path.join(await fs.mkdtemp(path.join(tmpdir(), 'bk-fc-')), 'files.bin');
  const a = await FileCache.load(file, ['/a', '/b']);
  a.record('/a/none', fp(1), [id('n')], true);
  a.record('/a/unknown', fp(2), [id('u')]);
  a.record('/b/none', fp(3), [id('b'), id('c')], true);
  await a.save();
  const b = await FileCache.load(file, ['/a']);
  expect(b.lookup('/a/none', fp(1))).toEqual([id('n')]);
  expect(b.hitHadNoXattrs).toBe(true);
  expect(b.lookup('/a/unknown', fp(2))).toEqual([id('u')]);
  expect(b.hitHadNoXattrs).toBe(false);
  b.record('/a/none', fp(1), [id('n')], false);
  await b.save();
  const c = await FileCache.load(file, ['/a', '/b']);
  expect(c.lookup('/a/none', fp(1))).toEqual([id('n')]);
  expect(c.hitHadNoXattrs).toBe(false);
  // Copied on as bytes by the push of /a alone: the flag, and both chunk ids, survive.
  expect(c.lookup('/b/none', fp(3))).toEqual([id('b'), id('c')]);
  expect(c.hitHadNoXattrs).toBe(true);
  c.discard();
});

it('recordHit passes on the record the last lookup found, byte for byte, and refuses anything else', async () => {
  const file = path.join(await fs.mkdtemp(path.join(tmpdir(), 'bk-fc-')), 'files.bin');
  const a = await FileCache.load(file, ['/r']);
  // Fingerprints with all 64 bits in use (an inode past 2^63, a time before 1970).
  const odd: FileFingerprint = { size: 7, mtimeNs: -1_234_567_891n, ctimeNs: 5n, ino: 2n ** 64n - 3n };
  a.record('/r/a', fp(1), [id('a')], true);
  a.record('/r/b', odd, [id('b1'), id('b2')], false);
  a.record('/r/c', fp(3), [id('c')], true);
  await a.save();
  const bytes = await fs.readFile(file);

  const b = await FileCache.load(file, ['/r']);
  expect(b.recordHit('/r/a', true)).toBe(false); // no lookup yet
  expect(b.lookup('/r/a', fp(1))).toEqual([id('a')]);
  expect(b.recordHit('/r/other', true)).toBe(false);
  expect(b.recordHit('/r/a', true)).toBe(true);
  expect(b.recordHit('/r/a', true)).toBe(false); // once
  expect(b.lookup('/r/b', odd)).toEqual([id('b1'), id('b2')]);
  expect(b.recordHit('/r/b', false)).toBe(true);
  expect(b.lookup('/r/c', fp(3))).toEqual([id('c')]);
  expect(b.recordHit('/r/c', false)).toBe(false); // the flag differs: record() it is
  b.record('/r/c', fp(3), [id('c')], true);
  expect(b.rewriting).toBe(false);
  await b.save();
  expect((await fs.readFile(file)).equals(bytes)).toBe(true);

  // A record's bytes equal what record() writes for the same values (the fingerprint, too).
  const c = await FileCache.load(file, ['/r']);
  expect(c.lookup('/r/b', odd)).toEqual([id('b1'), id('b2')]);
  expect(c.lookup('/r/b', { ...odd, ino: 2n ** 64n - 4n })).toBeUndefined();
  expect(c.lookup('/r/b', { ...odd, mtimeNs: odd.mtimeNs + 1n })).toBeUndefined();
  c.discard();
});
