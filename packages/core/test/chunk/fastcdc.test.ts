import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ChunkerParams, FastCdcChunker } from '../../src/chunk/fastcdc.js';

const seed = Buffer.alloc(32, 7);
const small: ChunkerParams = { minSize: 2048, avgSize: 8192, maxSize: 32768 };

function chunkAll(data: Buffer, splits: number[], params = small, s: Uint8Array = seed): Buffer[] {
  const chunker = new FastCdcChunker(s, params);
  const out: Buffer[] = [];
  let at = 0;
  for (const cut of [...splits, data.length]) {
    out.push(...chunker.push(data.subarray(at, cut)));
    at = cut;
  }
  const last = chunker.finish();
  if (last) out.push(last);
  return out;
}

/** Deterministic pseudo-random bytes: AES-256-CTR keystream of a fixed key. */
function seededBytes(length: number, seed: number): Buffer {
  const cipher = createCipheriv('aes-256-ctr', Buffer.alloc(32, seed), Buffer.alloc(16));
  return cipher.update(Buffer.alloc(length));
}

const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('FastCDC chunker', () => {
  it('reassembles to the input, with sizes within bounds', () => {
    const data = randomBytes(1_000_000);
    const chunks = chunkAll(data, []);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    for (const c of chunks.slice(0, -1)) {
      expect(c.length).toBeGreaterThanOrEqual(small.minSize);
      expect(c.length).toBeLessThanOrEqual(small.maxSize);
    }
    const mean = data.length / chunks.length;
    expect(mean).toBeGreaterThan(small.avgSize * 0.5);
    expect(mean).toBeLessThan(small.avgSize * 2);
  });

  it('cuts the same wherever the input is split into buffers', () => {
    const data = randomBytes(300_000);
    const reference = chunkAll(data, []).map(digest);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: data.length - 1 }), { maxLength: 40 }), (cuts) => {
        const chunks = chunkAll(
          data,
          cuts.sort((a, b) => a - b),
        ).map(digest);
        expect(chunks).toEqual(reference);
      }),
      { numRuns: 60 },
    );
  });

  it('keeps chunks away from an insertion in the middle (fixed-size blocks would all shift)', () => {
    // Seeded data, so the result is the same on every run.
    const data = seededBytes(2_000_000, 1);
    const edited = Buffer.concat([
      data.subarray(0, 1_000_000),
      seededBytes(10_000, 2),
      data.subarray(1_000_000),
    ]);
    const before = new Set(chunkAll(data, []).map(digest));
    const afterChunks = chunkAll(edited, []);
    const fresh = afterChunks.filter((c) => !before.has(digest(c)));
    const freshBytes = fresh.reduce((n, c) => n + c.length, 0);
    expect(fresh.length).toBeGreaterThan(0);
    // Only the edit and the chunks around it are new: a few average chunks of the 2 MB.
    expect(freshBytes).toBeLessThan(10_000 + 6 * small.avgSize);
    expect(afterChunks.length).toBeGreaterThan(200);
  });

  it('makes a file smaller than the minimum one chunk, and empty input none', () => {
    expect(chunkAll(randomBytes(100), [])).toHaveLength(1);
    expect(chunkAll(Buffer.alloc(0), [])).toHaveLength(0);
  });

  it('cuts zero-filled data at the maximum size', () => {
    const chunks = chunkAll(Buffer.alloc(100_000), []);
    expect(chunks.slice(0, -1).every((c) => c.length === small.maxSize)).toBe(true);
  });

  it('depends on the seed', () => {
    const data = randomBytes(500_000);
    const a = chunkAll(data, []).map((c) => c.length);
    const b = chunkAll(data, [], small, Buffer.alloc(32, 8)).map((c) => c.length);
    expect(a).not.toEqual(b);
  });
});

describe("FastCDC chunker with a caller-given concat (the worker's pooled buffers)", () => {
  it('cuts the same chunks, joining spanning ones with the given function into a reused buffer', () => {
    const data = Buffer.concat([seededBytes(200_000, 3), Buffer.from('text\n'.repeat(40_000))]);
    const splits = [1000, 5000, 70_000, 70_001, 150_000, 260_000];
    const expected = chunkAll(data, splits).map(digest);
    let joined = 0;
    const reused = Buffer.alloc(small.maxSize);
    const chunker = new FastCdcChunker(seed, small, (parts, length) => {
      joined++;
      let at = 0;
      for (const part of parts) at += part.copy(reused, at);
      return reused.subarray(0, length);
    });
    const got: string[] = [];
    let at = 0;
    for (const cut of [...splits, data.length]) {
      // Each chunk is consumed before the next push: the reused buffer is then free again.
      for (const chunk of chunker.push(data.subarray(at, cut))) got.push(digest(chunk));
      at = cut;
    }
    const last = chunker.finish();
    if (last) got.push(digest(last));
    expect(got).toEqual(expected);
    expect(joined).toBeGreaterThan(0);
  });
});
