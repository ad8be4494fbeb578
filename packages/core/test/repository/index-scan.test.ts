import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { IndexFile } from '../../src/repository/format.js';
import { MasterIndex } from '../../src/repository/master-index.js';

const hex = (s: string) => createHash('sha256').update(s).digest('hex');

/** Packs of data blobs (every other one compressed) and one pack of trees, as saveIndex writes them. */
function indexFile(): IndexFile {
  const pack = (name: string, count: number, type: 'data' | 'tree') => ({
    id: hex(name),
    size: count * 100 + 7,
    blobs: Array.from({ length: count }, (_, i) => ({
      id: hex(`${name} blob ${i}`),
      type,
      offset: i * 100,
      length: 100,
      rawLength: 90 + (i % 7),
      ...(i % 2 ? { compressed: true as const } : {}),
    })),
  });
  return { version: 2, packs: [pack('p1', 500, 'data'), pack('t1', 30, 'tree'), pack('empty', 0, 'data')] };
}

function everything(index: MasterIndex) {
  return {
    blobs: [...index.allBlobs()],
    packs: [...index.packIds()],
    trees: index.treePack(hex('t1')),
  };
}

describe('MasterIndex.addJson (an index file read in place)', () => {
  it('reads what saveIndex writes into the same index as add does from the parsed file', () => {
    const file = indexFile();
    const parsed = new MasterIndex();
    parsed.add(file);
    const scanned = new MasterIndex();
    expect(scanned.addJson(Buffer.from(JSON.stringify(file)))).toBe(true);
    expect(everything(scanned)).toEqual(everything(parsed));
    expect(scanned.treePack(hex('t1'))).toHaveLength(30);
    expect(scanned.get(hex('p1 blob 1'))).toMatchObject({ compressed: true, rawLength: 91 });
  });

  it('leaves out the packs it is told to, as loadIndex filtered them', () => {
    const file = indexFile();
    const scanned = new MasterIndex();
    expect(scanned.addJson(Buffer.from(JSON.stringify(file)), new Set([hex('p1')]))).toBe(true);
    expect(scanned.blobCount).toBe(30);
    expect(scanned.hasPack(hex('p1'))).toBe(false);
    expect(scanned.has(hex('p1 blob 0'))).toBe(false);
  });

  it('answers false and adds nothing for valid JSON in another shape, even when it differs only at the end', () => {
    const file = indexFile();
    const json = JSON.stringify(file);
    const others = [
      JSON.stringify(file, null, 1), // whitespace
      JSON.stringify({ packs: file.packs, version: 2 }), // key order
      json.replace(/"offset":100,/, '"offset":1e2,'), // a number written otherwise
      json.replace(hex('p1 blob 3'), hex('p1 blob 3').toUpperCase()), // uppercase hex
      `${json.slice(0, -2)},{"id":"${hex('x')}","size":1,"blobs":[{"id":"${hex('y')}","type":"data","offset":0,"length":1}]}]}`, // no rawLength, last pack
    ];
    for (const other of others) {
      expect(() => JSON.parse(other)).not.toThrow();
      const index = new MasterIndex();
      expect(index.addJson(Buffer.from(other))).toBe(false);
      expect(index.blobCount).toBe(0);
      expect(index.packCount).toBe(0);
    }
  });

  it('answers false for bytes that are not JSON at all, cut short or with something after them', () => {
    const json = JSON.stringify(indexFile());
    for (const bad of [json.slice(0, json.length - 3), `${json}x`, '', '{"version":2,"packs":[']) {
      const index = new MasterIndex();
      expect(index.addJson(Buffer.from(bad))).toBe(false);
      expect(index.blobCount).toBe(0);
    }
    expect(new MasterIndex().addJson(Buffer.from(`${json}\n`))).toBe(true);
  });
});
