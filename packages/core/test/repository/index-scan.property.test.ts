import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { IndexFile } from '../../src/repository/format.js';
import { MasterIndex } from '../../src/repository/master-index.js';

const hexId = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const size = fc.integer({ min: 0, max: 2 ** 40 });
/** What a blob's offset and lengths can be (isBlobField): larger ones are refused, index-load.test.ts. */
const blobField = fc.integer({ min: 0, max: 0xffff_ffff });

const indexFile: fc.Arbitrary<IndexFile> = fc.record({
  version: fc.constantFrom(1, 2),
  packs: fc.array(
    fc.record({
      id: hexId,
      size,
      blobs: fc.array(
        fc
          .record({
            id: hexId,
            type: fc.constantFrom('data' as const, 'tree' as const),
            offset: blobField,
            length: blobField,
            rawLength: blobField,
            compressed: fc.boolean(),
          })
          .map(({ compressed, ...blob }) => (compressed ? { ...blob, compressed: true as const } : blob)),
        { maxLength: 6 },
      ),
    }),
    { maxLength: 4 },
  ),
});

function contents(index: MasterIndex) {
  return { blobs: [...index.allBlobs()], packs: [...index.packIds()] };
}

function parsedIndex(json: string): ReturnType<typeof contents> {
  const index = new MasterIndex();
  index.add(JSON.parse(json) as IndexFile);
  return contents(index);
}

describe('MasterIndex.addJson against JSON.parse (property)', () => {
  it('reads every index file saveIndex can write as add does from the parsed file', () => {
    fc.assert(
      fc.property(indexFile, (file) => {
        const json = JSON.stringify(file);
        const scanned = new MasterIndex();
        expect(scanned.addJson(Buffer.from(json))).toBe(true);
        expect(contents(scanned)).toEqual(parsedIndex(json));
      }),
      { numRuns: 300 },
    );
  });

  it('a changed byte: refused and nothing added, or read exactly as JSON.parse reads it', () => {
    fc.assert(
      fc.property(indexFile, fc.nat(), fc.integer({ min: 0, max: 255 }), (file, at, byte) => {
        const bytes = Buffer.from(JSON.stringify(file));
        bytes[at % bytes.length] = byte;
        const scanned = new MasterIndex();
        if (scanned.addJson(bytes)) {
          expect(contents(scanned)).toEqual(parsedIndex(bytes.toString('latin1')));
        } else {
          expect(contents(scanned)).toEqual({ blobs: [], packs: [] });
        }
      }),
      { numRuns: 2000 },
    );
  });
});
