import { isMainThread } from 'node:worker_threads';
import {
  hasBuiltinSyncZstd,
  type ScratchZstd,
  type SyncZstd,
  scratchZstd,
  smallCodec,
  type ZstdCodec,
  zstd,
} from './zstd.js';

/**
 * restic's modes: `auto` compresses fast (zstd level 3), `max` compresses harder (level 11,
 * several times slower), `off` stores everything as it is. Whatever the mode, a blob that
 * would not shrink by at least 1/32 is stored as it is (random data, media, archives), so
 * restore does not pay to decompress it.
 */
export type CompressionMode = 'auto' | 'max' | 'off';
export const COMPRESSION_MODES: readonly CompressionMode[] = ['auto', 'max', 'off'];
export const DEFAULT_COMPRESSION: CompressionMode = 'auto';

const LEVEL: Record<Exclude<CompressionMode, 'off'>, number> = { auto: 3, max: 11 };
/** Below this, zstd's frame overhead eats the gain. */
const MIN_BYTES = 64;

/**
 * Blobs up to this size compress on the calling thread (smallCodec: no thread-pool round
 * trip); larger ones on the thread pool, with the fastest codec the runtime has. The choice
 * depends on the size and the runtime alone, so the main thread and the chunk workers
 * decide alike.
 */
export const SMALL_BLOB = 128 * 1024;

/**
 * Where the calling thread's codec is the WebAssembly build (Node < 22.15): above this
 * size the native codec's thread-pool round trip (~40 µs) costs less than the WebAssembly
 * build's lower speed (about 60 % of native). Measured on the bench's real tree, level 3,
 * CPU seconds for its 42k files of up to 128 KiB: 16–128 KiB 1.36 s (WebAssembly) against
 * 0.84 s (native, one call at a time); 4–16 KiB 0.41 against 0.48; under 4 KiB 0.60
 * against 1.77.
 */
export const SMALL_BLOB_WASM = 16 * 1024;

/**
 * The size up to which `small` (the calling thread's codec) is used rather than `large`
 * (the thread pool's, `zstd()`). Where `large` is the WebAssembly build too (no native
 * codec on this platform) nothing is gained by going there: the limit stays SMALL_BLOB.
 */
export function smallBlobLimit(small: Pick<SyncZstd, 'name'>, large: Pick<ZstdCodec, 'name'>): number {
  return small.name === 'node:zlib' || large.name === '@bokuweb/zstd-wasm' ? SMALL_BLOB : SMALL_BLOB_WASM;
}

/**
 * True when `plain` starts as a gzip, xz, zstd or bzip2 stream does: entropy-coded data,
 * which zstd cannot shrink by 1/32 (so it would be stored as it is anyway), and which is
 * not tried. Measured on the bench's real tree: 23,034 of its 43,029 blobs (84 MiB, the
 * man pages and changelogs) are gzip; trying them cost 0.38 s of CPU (~5 % of the push)
 * for 2 blobs that shrank, by 92 KB in all (0.04 % of the repository).
 */
export function isCompressedStream(plain: Uint8Array): boolean {
  const b = plain;
  if (b.byteLength < 6) return false;
  // gzip with deflate (RFC 1952), zstd's frame magic, xz's header magic.
  if (b[0] === 0x1f && b[1] === 0x8b && b[2] === 0x08) return true;
  if (b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) return true;
  if (b[0] === 0xfd && b[1] === 0x37 && b[2] === 0x7a && b[3] === 0x58 && b[4] === 0x5a && b[5] === 0x00)
    return true;
  // bzip2: "BZh", the block size 1–9, then the first block's magic (0x314159…).
  return (
    b[0] === 0x42 &&
    b[1] === 0x5a &&
    b[2] === 0x68 &&
    b[3]! >= 0x31 &&
    b[3]! <= 0x39 &&
    b[4] === 0x31 &&
    b[5] === 0x41
  );
}

/** The compressed bytes, or undefined when the data is to be stored as it is. */
export async function compressBlob(plain: Uint8Array, mode: CompressionMode): Promise<Buffer | undefined> {
  if (mode === 'off' || plain.byteLength < MIN_BYTES || isCompressedStream(plain)) return undefined;
  const large = await zstd();
  const small = wasmOnlyForSmall(large) ? undefined : await smallCodec();
  const packed =
    small && plain.byteLength <= smallBlobLimit(small, large)
      ? small.compress(plain, LEVEL[mode])
      : await large.compress(plain, LEVEL[mode]);
  return pays(packed.length, plain.byteLength) ? packed : undefined;
}

/** Whether compressing `plain` pays: at least 1/32 smaller (else it is stored as it is). */
function pays(packed: number, plain: number): boolean {
  return packed <= plain - plain / 32;
}

/**
 * Compresses the blobs of a batch that `compressBlob` would compress on the calling thread
 * (`takes`), deciding as it does (the same codec, level and 1/32 rule, so the same bytes
 * stored), into one scratch area of the thread's codec where it has one (ScratchZstd): no
 * buffer per blob. A blob it does not take goes through `compressBlob` (the thread pool).
 */
export interface BatchCompressor {
  /** True when a blob of `length` bytes is compressed here, synchronously. */
  takes(length: number): boolean;
  /** Starts a batch of `count` blobs taken here, `bytes` in all: the outputs before are gone. */
  begin(bytes: number, count: number): void;
  /**
   * Compresses `plain` (one `takes` said yes to): its compressed bytes, or undefined when
   * it is to be stored as it is. The bytes may be a view of the codec's memory: valid
   * until the next `begin` or `add`, so the caller reads them (`body`) only after the
   * last `add` of the batch, and before anything else compresses on this thread.
   */
  add(plain: Uint8Array): { offset: number; length: number } | Buffer | undefined;
  /** The bytes `add` answered with. */
  body(added: { offset: number; length: number } | Buffer): Uint8Array;
}

export async function batchCompressor(mode: CompressionMode): Promise<BatchCompressor> {
  if (mode === 'off') {
    return { takes: () => true, begin: () => undefined, add: () => undefined, body: (b) => b as Buffer };
  }
  const level = LEVEL[mode];
  const large = await zstd();
  const small = wasmOnlyForSmall(large) ? undefined : await smallCodec();
  const limit = small ? smallBlobLimit(small, large) : 0;
  const takes = (length: number) => length < MIN_BYTES || length <= limit;
  const scratch: ScratchZstd | undefined =
    small?.name === '@bokuweb/zstd-wasm' ? await scratchZstd() : undefined;
  if (!small || !scratch) {
    return {
      takes,
      begin: () => undefined,
      add: (plain) => {
        if (plain.byteLength < MIN_BYTES || !small || isCompressedStream(plain)) return undefined;
        const packed = small.compress(plain, level);
        return pays(packed.length, plain.byteLength) ? packed : undefined;
      },
      body: (b) => b as Buffer,
    };
  }
  return {
    takes,
    // Each frame's bound is its input plus 1/256 plus at most 64 bytes (ZSTD_compressBound).
    begin: (bytes, count) => scratch.begin(scratch.bound(bytes) + 64 * count),
    add: (plain) => {
      if (plain.byteLength < MIN_BYTES || isCompressedStream(plain)) return undefined;
      const out = scratch.compress(plain, level);
      return pays(out.length, plain.byteLength) ? out : undefined;
    },
    body: (b) => (Buffer.isBuffer(b) ? b : scratch.view(b.offset, b.length)),
  };
}

/**
 * The main thread of a push compresses few blobs (trees, index files, snapshots: one tree
 * per folder), the chunk workers every file's: where the calling thread's codec would be
 * the WebAssembly build only for that (Node < 22.15 with the native codec there), the main
 * thread sends its blobs to the native codec instead and never instantiates it. An instance
 * holds ~6 MiB once used (its memory grows and never shrinks), on a thread whose few
 * hundred calls a second the thread-pool round trip costs nothing that shows.
 */
function wasmOnlyForSmall(large: Pick<ZstdCodec, 'name'>): boolean {
  return isMainThread && !hasBuiltinSyncZstd() && large.name !== '@bokuweb/zstd-wasm';
}

export async function decompressBlob(packed: Uint8Array): Promise<Buffer> {
  return (await zstd()).decompress(packed);
}

/**
 * Metadata objects (index files, snapshots, pack headers) in format version 2: either the
 * JSON text itself (it starts with `{` or `[`), or the byte 0x02 followed by a zstd frame
 * of it. A version 1 object is always the first kind, so one reader reads both.
 */
const META_ZSTD = 0x02;

export async function encodeMeta(json: string, mode: CompressionMode): Promise<Buffer> {
  const plain = Buffer.from(json);
  const packed = await compressBlob(plain, mode);
  if (!packed) return plain;
  const out = Buffer.allocUnsafe(packed.length + 1);
  out[0] = META_ZSTD;
  packed.copy(out, 1);
  return out;
}

export async function decodeMeta(bytes: Buffer): Promise<string> {
  return (await decodeMetaBytes(bytes)).toString();
}

/** The JSON's UTF-8 bytes (for a reader that scans them rather than parse a string). */
export async function decodeMetaBytes(bytes: Buffer): Promise<Buffer> {
  if (bytes.length > 0 && bytes[0] === META_ZSTD) return decompressBlob(bytes.subarray(1));
  return bytes;
}
