import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { batchCompressor, decompressBlob } from '../../src/compress/compression.js';
import { scratchZstd, smallCodec } from '../../src/compress/zstd.js';

const text = Buffer.from(
  readFileSync(path.join(import.meta.dirname, '../../src/compress/zstd.ts'), 'utf8').repeat(20),
);
/** Blobs of a small-file batch: text of many sizes, random bytes, a few bytes. */
const blobs = [
  text.subarray(0, 100),
  text.subarray(7, 1500),
  randomBytes(3000),
  text.subarray(300, 16 * 1024),
  Buffer.from('tiny'),
  text.subarray(11, 9000),
  randomBytes(40),
  text.subarray(0, 12_000),
];

describe('scratchZstd (small blobs back to back in the WebAssembly memory)', () => {
  it('keeps every output of a series readable until the next one, each a frame of its input', async (ctx) => {
    const scratch = await scratchZstd();
    if (!scratch) return ctx.skip('the WebAssembly module is not reachable');
    const inputs = blobs.filter((b) => b.length >= 64);
    scratch.begin(inputs.reduce((a, b) => a + scratch.bound(b.length), 0));
    const spans = inputs.map((b) => scratch.compress(b, 3));
    // Read only after the last call: no output was overwritten by a later one.
    for (let k = 0; k < inputs.length; k++) {
      const frame = Buffer.from(scratch.view(spans[k]!.offset, spans[k]!.length));
      expect((await decompressBlob(frame)).equals(inputs[k]!)).toBe(true);
    }
    // The same frames as the one-call codec at the same level, where that is the WebAssembly build too.
    const small = await smallCodec();
    if (small.name === '@bokuweb/zstd-wasm') {
      const again = scratch.compress(inputs[1]!, 3);
      expect(
        Buffer.from(scratch.view(again.offset, again.length)).equals(small.compress(inputs[1]!, 3)),
      ).toBe(true);
    }
  });

  it('grows its area when a series was given too little room, the earlier outputs kept', async (ctx) => {
    const scratch = await scratchZstd();
    if (!scratch) return ctx.skip('the WebAssembly module is not reachable');
    scratch.begin(0);
    const inputs = Array.from({ length: 40 }, (_, k) => text.subarray(k * 97, k * 97 + 16 * 1024));
    const spans = inputs.map((b) => scratch.compress(b, 3));
    for (let k = 0; k < inputs.length; k++) {
      const frame = Buffer.from(scratch.view(spans[k]!.offset, spans[k]!.length));
      expect((await decompressBlob(frame)).equals(inputs[k]!)).toBe(true);
    }
  });
});

describe('batchCompressor', () => {
  it('stores everything as it is when compression is off', async () => {
    const codec = await batchCompressor('off');
    for (const blob of blobs) {
      expect(codec.takes(blob.length)).toBe(true);
      expect(codec.add(blob)).toBeUndefined();
    }
  });

  it('in a chunk worker, decides and compresses as compressBlob does, blob for blob', async () => {
    // The chunk workers run the built code: so does this worker (vitest does not compile for it).
    const dist = pathToFileURL(path.join(import.meta.dirname, '../../dist/compress/compression.js')).href;
    const worker = new Worker(
      `
      const { parentPort, workerData } = require('node:worker_threads');
      (async () => {
        const { batchCompressor, compressBlob } = await import(${JSON.stringify(dist)});
        const blobs = workerData.map((b) => Buffer.from(b));
        const codec = await batchCompressor('auto');
        const taken = blobs.filter((b) => codec.takes(b.length));
        codec.begin(taken.reduce((a, b) => a + b.length, 0), taken.length);
        const added = blobs.map((b) => (codec.takes(b.length) ? codec.add(b) : null));
        const mine = added.map((a) => (a === null ? null : a === undefined ? undefined : Buffer.from(codec.body(a))));
        const theirs = [];
        for (const b of blobs) theirs.push(await compressBlob(b, 'auto'));
        parentPort.postMessage({
          taken: added.map((a) => a !== null),
          same: blobs.map((_, k) => mine[k] === null || (mine[k] === undefined ? theirs[k] === undefined : theirs[k] !== undefined && mine[k].equals(theirs[k]))),
          compressed: mine.map((m) => m !== null && m !== undefined),
        });
      })().catch((e) => parentPort.postMessage({ error: String(e) }));
      `,
      { eval: true, workerData: [...blobs, text.subarray(0, 100_000)].map((b) => new Uint8Array(b)) },
    );
    const answer = await new Promise<{
      taken: boolean[];
      same: boolean[];
      compressed: boolean[];
      error?: string;
    }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    expect(answer.error).toBeUndefined();
    expect(answer.same.every(Boolean)).toBe(true);
    // The text blobs it took were compressed; the random ones and the tiny ones were not.
    expect(answer.taken.slice(0, blobs.length)).toEqual(blobs.map(() => true));
    expect(answer.compressed.slice(0, blobs.length)).toEqual([
      true,
      true,
      false,
      true,
      false,
      true,
      false,
      true,
    ]);
  });
});
