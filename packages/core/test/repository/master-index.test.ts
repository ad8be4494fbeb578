import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { IndexFile } from '../../src/repository/format.js';
import { MasterIndex } from '../../src/repository/master-index.js';

const hex = (s: string) => createHash('sha256').update(s).digest('hex');

function file(pack: string, count: number, from = 0, type: 'data' | 'tree' = 'data'): IndexFile {
  return {
    version: 2,
    packs: [
      {
        id: hex(pack),
        size: count * 100,
        blobs: Array.from({ length: count }, (_, i) => ({
          id: hex(`blob ${from + i}`),
          type,
          offset: i * 100,
          length: 100,
          rawLength: 90 + (i % 7),
          ...(i % 2 ? { compressed: true as const } : {}),
        })),
      },
    ],
  };
}

describe('MasterIndex (compact binary records)', () => {
  it('finds every one of 50,000 blobs with its exact entry, and no other id', () => {
    const index = new MasterIndex();
    index.add(file('p1', 30_000));
    index.add(file('p2', 20_000, 30_000));
    expect(index.blobCount).toBe(50_000);
    expect(index.packCount).toBe(2);
    for (const i of [0, 1, 29_999, 30_000, 49_999]) {
      expect(index.get(hex(`blob ${i}`))).toEqual({
        id: hex(`blob ${i}`),
        type: 'data',
        offset: (i < 30_000 ? i : i - 30_000) * 100,
        length: 100,
        rawLength: 90 + ((i < 30_000 ? i : i - 30_000) % 7),
        ...((i < 30_000 ? i : i - 30_000) % 2 ? { compressed: true } : {}),
        pack: i < 30_000 ? hex('p1') : hex('p2'),
      });
    }
    expect(index.has(hex('blob 50000'))).toBe(false);
    expect(index.get('not hex')).toBeUndefined();
    // Looked up through one reused buffer: an id of 64 characters that is not all hex, or
    // one asked for just after a found one, finds nothing; an id in capitals is found and
    // answered in the index's own lowercase form.
    const found = hex('blob 7');
    expect(index.get(`${found.slice(0, 62)}zz`)).toBeUndefined();
    expect(index.get(hex('blob 50000'))).toBeUndefined();
    expect(index.get(found.toUpperCase())?.id).toBe(found);
    expect(index.get(found)?.offset).toBe(700);
    expect([...index.packIds()]).toEqual([
      [hex('p1'), 3_000_000],
      [hex('p2'), 2_000_000],
    ]);
  });

  it('keeps the first location of a blob listed twice; lists the blobs of tree-only packs', () => {
    const index = new MasterIndex();
    index.add(file('p1', 3));
    index.add(file('p2', 3));
    expect(index.blobCount).toBe(3);
    expect(index.get(hex('blob 1'))?.pack).toBe(hex('p1'));
    index.add(file('trees', 4, 100, 'tree'));
    expect(index.treePack(hex('trees'))?.map((b) => b.id)).toEqual(
      [100, 101, 102, 103].map((i) => hex(`blob ${i}`)),
    );
    expect(index.treePack(hex('p1'))).toBeUndefined();
    expect(index.hasPack(hex('trees'))).toBe(true);
  });
});
