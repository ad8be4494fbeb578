import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { FileCache, type FileFingerprint } from '../../src/cache/file-cache.js';

const id = (s: string) => createHash('sha256').update(s).digest('hex');
const fp = (i: number): FileFingerprint => ({
  size: i * 1000,
  mtimeNs: `${1_700_000_000_123_456_789n + BigInt(i)}`,
  ctimeNs: `${1_700_000_000_987_654_321n + BigInt(i)}`,
  ino: `${9_000_000_000_000 + i}`,
});

it('finds every recorded file after a save (20,000 files, long and non-ASCII paths), and only with the same fingerprint', async () => {
  const file = path.join(await fs.mkdtemp(path.join(tmpdir(), 'bk-fc-')), 'files.bin');
  const first = await FileCache.load(file);
  const name = (i: number) => `/home/me/${i % 7 === 0 ? 'é'.repeat(200) : 'd'}/${i}.txt`;
  for (let i = 0; i < 20_000; i++)
    first.record(name(i), fp(i), i % 3 ? [id(`a${i}`)] : [id(`a${i}`), id(`b${i}`)]);
  await first.save(['/home/me']);

  const second = await FileCache.load(file);
  for (const i of [0, 1, 2, 7, 9_999, 19_999]) {
    expect(second.lookup(name(i), fp(i))).toEqual(i % 3 ? [id(`a${i}`)] : [id(`a${i}`), id(`b${i}`)]);
  }
  expect(second.lookup(name(5), { ...fp(5), mtimeNs: fp(6).mtimeNs })).toBeUndefined();
  expect(second.lookup(name(5), { ...fp(5), ino: '1' })).toBeUndefined();
  expect(second.lookup('/home/me/d/20000.txt', fp(20_000))).toBeUndefined();
  second.discard();
});

it('a push of other roots keeps the entries outside them; a push of a root replaces its entries', async () => {
  const file = path.join(await fs.mkdtemp(path.join(tmpdir(), 'bk-fc-')), 'files.bin');
  const a = await FileCache.load(file);
  a.record('/a/x', fp(1), [id('x')]);
  a.record('/b/y', fp(2), [id('y')]);
  await a.save(['/a', '/b']);
  const b = await FileCache.load(file);
  b.record('/a/z', fp(3), [id('z')]);
  await b.save(['/a']);
  const c = await FileCache.load(file);
  expect(c.lookup('/a/x', fp(1))).toBeUndefined();
  expect(c.lookup('/a/z', fp(3))).toEqual([id('z')]);
  expect(c.lookup('/b/y', fp(2))).toEqual([id('y')]);
  c.discard();
});

it('a damaged cache file is ignored (a full read, never a wrong answer)', async () => {
  const file = path.join(await fs.mkdtemp(path.join(tmpdir(), 'bk-fc-')), 'files.bin');
  const a = await FileCache.load(file);
  a.record('/a/x', fp(1), [id('x')]);
  await a.save(['/a']);
  const bytes = await fs.readFile(file);
  await fs.writeFile(file, bytes.subarray(0, bytes.length - 5));
  const b = await FileCache.load(file);
  expect(b.lookup('/a/x', fp(1))).toBeUndefined();
  b.discard();
});
