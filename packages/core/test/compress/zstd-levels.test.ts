import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinCodec, nativeCodec, wasmCodec, type ZstdCodec } from '../../src/compress/zstd.js';

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
