import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  compressBlob,
  decompressBlob,
  SMALL_BLOB,
  SMALL_BLOB_WASM,
  smallBlobLimit,
} from '../../src/compress/compression.js';
import {
  builtinCodec,
  nativeCodec,
  smallCodec,
  wasmCodec,
  type ZstdCodec,
  zstd,
} from '../../src/compress/zstd.js';

// Text that compresses differently at zstd's levels 3 and 11 (`auto` and `max`).
const text = Buffer.from(
  readFileSync(path.join(import.meta.dirname, '../../src/compress/zstd.ts'), 'utf8').repeat(8) +
    readFileSync(path.join(import.meta.dirname, '../../../../package-lock.json'), 'utf8'),
);

const sources: [string, () => Promise<ZstdCodec | undefined>][] = [
  ['node:zlib', async () => builtinCodec()],
  ['@mongodb-js/zstd', nativeCodec],
  ['@bokuweb/zstd-wasm', wasmCodec],
];

describe('every zstd source honours the level (max is not auto)', () => {
  for (const [name, load] of sources) {
    it(name, async (ctx) => {
      const codec = await load();
      if (!codec) return ctx.skip(`${name} is not available on this runtime`);
      const fast = await codec.compress(text, 1);
      const max = await codec.compress(text, 19);
      expect(max.length).toBeLessThan(fast.length);
      expect((await codec.decompress(max)).equals(text)).toBe(true);
    });
  }

  it('the native binding says what failed, as the others do', async (ctx) => {
    const codec = await nativeCodec();
    if (!codec) return ctx.skip('@mongodb-js/zstd is not available on this runtime');
    await expect(codec.decompress(Buffer.from('not a zstd frame'))).rejects.toThrow(/^zstd: /);
  });
});

describe('small blobs compress on the calling thread', () => {
  it('honours the level, one context reused: frames every codec reads, the same bytes each time', async () => {
    const codec = await smallCodec();
    const slice = text.subarray(0, SMALL_BLOB);
    const fast = codec.compress(slice, 1);
    const max = codec.compress(slice, 19);
    expect(max.length).toBeLessThan(fast.length);
    // Interleaved sizes and levels through the one context: each frame stands alone.
    const again = [codec.compress(text.subarray(0, 100), 3), codec.compress(slice, 19)];
    expect(again[1]!.equals(max)).toBe(true);
    for (const [, load] of sources) {
      const reader = await load();
      if (!reader) continue;
      expect((await reader.decompress(max)).equals(slice)).toBe(true);
      expect((await reader.decompress(again[0]!)).equals(text.subarray(0, 100))).toBe(true);
    }
  });

  it('compressBlob: small and large blobs both come back (each through its codec), tiny ones and `off` stay as they are', async () => {
    for (const size of [
      5000,
      SMALL_BLOB_WASM,
      SMALL_BLOB_WASM + 1,
      SMALL_BLOB,
      SMALL_BLOB + 1,
      3 * SMALL_BLOB,
    ]) {
      const plain = text.subarray(0, size);
      const packed = await compressBlob(plain, 'auto');
      expect(packed).toBeDefined();
      expect((await decompressBlob(packed!)).equals(plain)).toBe(true);
    }
    // Below 64 bytes, or with compression off: stored as they are.
    expect(await compressBlob(text.subarray(0, 63), 'auto')).toBeUndefined();
    expect(await compressBlob(text.subarray(0, 5000), 'off')).toBeUndefined();
  });

  it("the calling thread compresses up to 128 KiB with Node's own zstd, up to 16 KiB with the WebAssembly build beside a native one", async () => {
    const wasm = { name: '@bokuweb/zstd-wasm' } as const;
    expect(smallBlobLimit({ name: 'node:zlib' }, { name: 'node:zlib' })).toBe(SMALL_BLOB);
    expect(smallBlobLimit(wasm, { name: '@mongodb-js/zstd' })).toBe(SMALL_BLOB_WASM);
    // No native codec at all: the thread pool's is WebAssembly too, nothing gained there.
    expect(smallBlobLimit(wasm, wasm)).toBe(SMALL_BLOB);
    expect(SMALL_BLOB_WASM).toBeLessThan(SMALL_BLOB);
    // This runtime's codecs pick their own limit (Node 20 on Linux x64: 16 KiB).
    const [small, large] = [await smallCodec(), await zstd()];
    const expected = small.name === 'node:zlib' || large.name === wasm.name ? SMALL_BLOB : SMALL_BLOB_WASM;
    expect(smallBlobLimit(small, large)).toBe(expected);
  });
});
