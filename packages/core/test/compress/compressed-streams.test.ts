import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { compressBlob, isCompressedStream } from '../../src/compress/compression.js';
import { zstd } from '../../src/compress/zstd.js';

const text = Buffer.from('a man page, a changelog, the same words again and again; '.repeat(400));

describe('blobs that are already compressed streams are stored as they are, untried', () => {
  it('knows gzip, zstd, xz and bzip2 by their first bytes', async () => {
    expect(isCompressedStream(gzipSync(text))).toBe(true);
    expect(isCompressedStream(await (await zstd()).compress(text, 3))).toBe(true);
    const xz = Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), randomBytes(100)]);
    expect(isCompressedStream(xz)).toBe(true);
    const bzip2 = Buffer.concat([Buffer.from('BZh91AY&SY'), randomBytes(100)]);
    expect(isCompressedStream(bzip2)).toBe(true);
  });

  it('does not take text, or a near miss of a magic, for one', () => {
    expect(isCompressedStream(text)).toBe(false);
    // gzip's magic with another method than deflate; "BZh" text; a zstd skippable-frame-like start.
    expect(isCompressedStream(Buffer.concat([Buffer.from([0x1f, 0x8b, 0x07]), text]))).toBe(false);
    expect(isCompressedStream(Buffer.from(`BZh is how this line starts. ${text}`))).toBe(false);
    expect(isCompressedStream(Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfe]), text]))).toBe(false);
    expect(isCompressedStream(Buffer.from([0x1f, 0x8b, 0x08]))).toBe(false);
  });

  it('compressBlob stores a gzip stream as it is and still compresses the same bytes unwrapped', async () => {
    // A gzip of text at level 1 that zstd could shrink a little: not tried, by design.
    const gz = gzipSync(text, { level: 1 });
    expect(await compressBlob(gz, 'auto')).toBeUndefined();
    expect(await compressBlob(gz, 'max')).toBeUndefined();
    // The same text not wrapped in gzip compresses as before.
    const packed = await compressBlob(text, 'auto');
    expect(packed).toBeDefined();
    expect(packed!.length).toBeLessThan(text.length / 4);
  });
});
