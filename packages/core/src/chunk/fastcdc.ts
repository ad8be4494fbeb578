import { createHash } from 'node:crypto';

/**
 * Content-defined chunking with FastCDC (Xia et al., 2016/2020): a gear rolling hash with
 * normalized chunking (a stricter mask before the average size, a looser one after),
 * skipping the first `min` bytes of every chunk. Cut points depend only on content, so an
 * edit inside a large file changes the chunks around it and no others.
 *
 * The gear table is derived from a per-repository secret seed, so chunk boundaries (and
 * thus sizes) do not fingerprint known files across repositories.
 */
export interface ChunkerParams {
  minSize: number;
  avgSize: number;
  maxSize: number;
}

export const DEFAULT_CHUNKER_PARAMS: ChunkerParams = {
  minSize: 256 * 1024,
  avgSize: 1024 * 1024,
  maxSize: 4 * 1024 * 1024,
};

/**
 * Gear tables by seed: a chunker is made per file, and deriving the table (32 SHA-256
 * digests) per file was 16% of a push of 10,000 small files (bench/, docs/benchmarks.md).
 * The tables are only read, so chunkers of one repository share one.
 */
const gearTables = new Map<string, Int32Array>();

export function gearTable(seed: Uint8Array): Int32Array {
  const key = Buffer.from(seed.buffer, seed.byteOffset, seed.byteLength).toString('hex');
  let table = gearTables.get(key);
  if (!table) {
    table = deriveGearTable(seed);
    if (gearTables.size >= 16) gearTables.clear();
    gearTables.set(key, table);
  }
  return table;
}

function deriveGearTable(seed: Uint8Array): Int32Array {
  const table = new Int32Array(256);
  let block = Buffer.alloc(0);
  for (let i = 0, counter = 0; i < 256; i++) {
    if (i % 8 === 0) {
      block = createHash('sha256')
        .update(seed)
        .update(Buffer.from([counter++]))
        .digest();
    }
    table[i] = block.readInt32LE((i % 8) * 4);
  }
  return table;
}

/** A mask of `bits` one-bits at the top of a 32-bit word (the hash's longest memory). */
function topMask(bits: number): number {
  return bits <= 0 ? 0 : (0xffffffff << (32 - bits)) | 0;
}

/**
 * Streaming chunker: feed it buffers with `push`, which returns the chunks completed so
 * far; `finish` returns the last, possibly short, chunk. Output never depends on how the
 * input was split into buffers.
 */
export class FastCdcChunker {
  private readonly gear: Int32Array;
  private readonly maskS: number;
  private readonly maskL: number;
  private parts: Buffer[] = [];
  private pending = 0;
  private hash = 0;

  /**
   * `concat` joins a chunk that spans pushed buffers (default `Buffer.concat`): a caller
   * that reuses its buffers passes one that writes into a buffer of its own pool.
   */
  constructor(
    seed: Uint8Array,
    private readonly params: ChunkerParams = DEFAULT_CHUNKER_PARAMS,
    private readonly concat: (parts: Buffer[], length: number) => Buffer = Buffer.concat,
  ) {
    if (!(params.minSize > 0 && params.minSize <= params.avgSize && params.avgSize <= params.maxSize)) {
      throw new RangeError(`invalid chunker sizes ${JSON.stringify(params)}`);
    }
    this.gear = gearTable(seed);
    const bits = Math.round(Math.log2(params.avgSize));
    // Normalization level 2: 2 bits harder before the average, 2 bits easier after.
    this.maskS = topMask(bits + 2);
    this.maskL = topMask(bits - 2);
  }

  push(data: Buffer): Buffer[] {
    const out: Buffer[] = [];
    const { minSize, avgSize, maxSize } = this.params;
    const gear = this.gear;
    let start = 0;
    let i = 0;
    const n = data.length;
    while (i < n) {
      // `base` is the offset in the current chunk of data[start].
      const base = this.pending - start;
      let size = base + i;
      if (size < minSize) {
        i = Math.min(n, start + (minSize - this.pending));
        size = base + i;
        if (size < minSize) break;
      }
      let h = this.hash;
      let cut = -1;
      const avgEnd = Math.min(n, i + Math.max(0, avgSize - size));
      const maskS = this.maskS;
      for (; i < avgEnd; i++) {
        h = ((h << 1) + gear[data[i]!]!) | 0;
        if ((h & maskS) === 0) {
          cut = i + 1;
          break;
        }
      }
      if (cut < 0 && i === avgEnd) {
        const maxEnd = Math.min(n, i + (maxSize - (base + i)));
        const maskL = this.maskL;
        for (; i < maxEnd; i++) {
          h = ((h << 1) + gear[data[i]!]!) | 0;
          if ((h & maskL) === 0) {
            cut = i + 1;
            break;
          }
        }
        if (cut < 0 && base + i >= maxSize) cut = i;
      }
      if (cut < 0) {
        this.hash = h;
        break;
      }
      out.push(this.take(data, start, cut));
      start = cut;
      i = cut;
      this.hash = 0;
    }
    if (start < n) {
      this.parts.push(data.subarray(start));
      this.pending += n - start;
    }
    return out;
  }

  finish(): Buffer | undefined {
    if (this.pending === 0) return undefined;
    const last = this.parts.length === 1 ? this.parts[0]! : this.concat(this.parts, this.pending);
    this.parts = [];
    this.pending = 0;
    this.hash = 0;
    return last;
  }

  private take(data: Buffer, start: number, end: number): Buffer {
    let chunk: Buffer;
    if (this.parts.length === 0) {
      chunk = data.subarray(start, end);
    } else {
      this.parts.push(data.subarray(start, end));
      chunk = this.concat(this.parts, this.pending + end - start);
    }
    this.parts = [];
    this.pending = 0;
    return chunk;
  }
}
