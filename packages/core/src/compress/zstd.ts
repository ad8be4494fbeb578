import { createRequire } from 'node:module';
import path from 'node:path';
import * as zlib from 'node:zlib';

/**
 * zstd, from the best source the runtime has:
 * 1. Node's own `zlib.zstdCompress` (Node ≥ 22.15 / 23.8): no dependency, runs on the
 *    libuv thread pool;
 * 2. `@mongodb-js/zstd` (optional dependency, a prebuilt N-API binary from the npm registry
 *    for Linux x64/arm64 glibc+musl, macOS x64/arm64, Windows x64): thread pool too;
 * 3. `@bokuweb/zstd-wasm` (pure WebAssembly, every platform, e.g. Windows arm64): on the
 *    calling thread, about half the speed.
 * All three write and read the same standard zstd frames.
 */
export interface ZstdCodec {
  readonly name: 'node:zlib' | '@mongodb-js/zstd' | '@bokuweb/zstd-wasm';
  compress(data: Uint8Array, level: number): Promise<Buffer>;
  decompress(data: Uint8Array): Promise<Buffer>;
}

interface BuiltinZstd {
  zstdCompress(
    data: Uint8Array,
    options: { params: Record<number, number> },
    callback: (error: Error | null, result: Buffer) => void,
  ): void;
  zstdDecompress(data: Uint8Array, callback: (error: Error | null, result: Buffer) => void): void;
  constants: Record<string, number>;
}

let loading: Promise<ZstdCodec> | undefined;

/** The codec, loaded once (a dynamic import: commands that never compress never load it). */
export function zstd(): Promise<ZstdCodec> {
  loading ??= load();
  return loading;
}

async function load(): Promise<ZstdCodec> {
  return builtinCodec() ?? (await nativeCodec()) ?? (await wasmCodec());
}

/** Node's own zstd, where the runtime has it. */
export function builtinCodec(): ZstdCodec | undefined {
  const builtin = zlib as unknown as Partial<BuiltinZstd>;
  if (typeof builtin.zstdCompress !== 'function' || typeof builtin.zstdDecompress !== 'function')
    return undefined;
  const z = builtin as BuiltinZstd;
  const levelParam = z.constants.ZSTD_c_compressionLevel ?? 100;
  return {
    name: 'node:zlib',
    compress: (data, level) =>
      new Promise((resolve, reject) =>
        z.zstdCompress(data, { params: { [levelParam]: level } }, (error, out) =>
          error ? reject(error) : resolve(out),
        ),
      ),
    decompress: (data) =>
      new Promise((resolve, reject) =>
        z.zstdDecompress(data, (error, out) => (error ? reject(error) : resolve(out))),
      ),
  };
}

/**
 * `@mongodb-js/zstd` 1.2's binding. Its `index.js` wrapper drops the level argument (every
 * call compressed at zstd's default, 3, so `max` was `auto`): the binding is called
 * directly, and its errors are given a message of ours.
 */
export async function nativeCodec(): Promise<ZstdCodec | undefined> {
  try {
    const specifier = '@mongodb-js/zstd/bindings.js';
    // Its loader asks Node's diagnostic report whether the C library is glibc; the report's
    // network part (every interface) is most of its 10–20 ms on the main thread at start-up.
    const report = process.report as { excludeNetwork?: boolean } | undefined;
    const excludeNetwork = report?.excludeNetwork;
    if (report && excludeNetwork === false) report.excludeNetwork = true;
    let imported: NativeBinding & { default?: NativeBinding };
    try {
      imported = (await import(specifier)) as NativeBinding & { default?: NativeBinding };
    } finally {
      if (report && excludeNetwork === false) report.excludeNetwork = false;
    }
    const native = typeof imported.compress === 'function' ? imported : imported.default!;
    // Probe once: a platform without a prebuilt fails here, not in the middle of a push.
    await native.decompress(await native.compress(Buffer.from('probe'), 1));
    return {
      name: '@mongodb-js/zstd',
      compress: (data, level) => native.compress(asBuffer(data), level).catch(zstdError),
      decompress: (data) => native.decompress(asBuffer(data)).catch(zstdError),
    };
  } catch {
    return undefined; // no prebuilt for this platform: the WebAssembly build
  }
}

interface NativeBinding {
  compress(data: Buffer, level?: number): Promise<Buffer>;
  decompress(data: Buffer): Promise<Buffer>;
}

function zstdError(error: unknown): never {
  throw new Error(`zstd: ${error instanceof Error ? error.message : String(error)}`);
}

/** The WebAssembly build: every platform. */
export async function wasmCodec(): Promise<ZstdCodec> {
  const wasm = await wasmModule();
  return {
    name: '@bokuweb/zstd-wasm',
    compress: async (data, level) => asBuffer(wasm.compress(asBuffer(data), level)),
    decompress: async (data) => asBuffer(wasm.decompress(asBuffer(data))),
  };
}

type WasmZstd = typeof import('@bokuweb/zstd-wasm');
let loadingWasm: Promise<WasmZstd> | undefined;

/**
 * The WebAssembly module, instantiated once per thread: each `init` makes a new instance
 * (new memory), which would leave the contexts of the one before pointing at nothing.
 */
function wasmModule(): Promise<WasmZstd> {
  loadingWasm ??= (async () => {
    const wasm = await import('@bokuweb/zstd-wasm');
    await wasm.init();
    return wasm;
  })();
  return loadingWasm;
}

/** zstd that compresses on the calling thread, at once: for small blobs (smallCodec). */
export interface SyncZstd {
  readonly name: 'node:zlib' | '@bokuweb/zstd-wasm';
  compress(data: Uint8Array, level: number): Buffer;
}

let loadingSync: Promise<SyncZstd> | undefined;

/**
 * The codec for small blobs: on the calling thread, synchronously — Node's own
 * `zstdCompressSync` where the runtime has it, else the WebAssembly build with one reused
 * context. A small file's chunk compresses in tens of microseconds: a round trip through
 * the libuv thread pool (a queued job, a wake-up, a completion) costs as much again, and
 * on two busy cores the handoffs between threads cost more (profiled: docs/benchmarks.md).
 * The chunk workers call it on their own threads, so both cores still compress.
 */
export function smallCodec(): Promise<SyncZstd> {
  loadingSync ??= loadSync();
  return loadingSync;
}

interface BuiltinSyncZstd {
  zstdCompressSync?: (data: Uint8Array, options: { params: Record<number, number> }) => Buffer;
  constants: Record<string, number>;
}

/** True where the runtime has its own synchronous zstd (smallCodec is then not WebAssembly). */
export function hasBuiltinSyncZstd(): boolean {
  return typeof (zlib as unknown as BuiltinSyncZstd).zstdCompressSync === 'function';
}

async function loadSync(): Promise<SyncZstd> {
  const builtin = zlib as unknown as BuiltinSyncZstd;
  if (typeof builtin.zstdCompressSync === 'function') {
    const compressSync = builtin.zstdCompressSync;
    const levelParam = builtin.constants.ZSTD_c_compressionLevel ?? 100;
    return {
      name: 'node:zlib',
      compress: (data, level) => compressSync(data, { params: { [levelParam]: level } }),
    };
  }
  const wasm = await wasmModule();
  // One context for every call of this thread: no workspace set up per blob. Without a
  // dictionary, ZSTD_compress_usingDict is ZSTD_compressCCtx (what ZSTD_compress does).
  const cctx = wasm.createCCtx();
  const noDict = new Uint8Array(0);
  return {
    name: '@bokuweb/zstd-wasm',
    compress: (data, level) => asBuffer(wasm.compressUsingDict(cctx, data, noDict, level)),
  };
}

/**
 * A synchronous decoder for small frames whose decompressed size is known (a blob's
 * `rawLength`), on the calling thread with the WebAssembly build: up to ~64 KiB it costs
 * less than a call to the native codec, whose thread-pool round trip and context per call
 * dominate (profiled: restore of 100k small files, 30 µs a call against 5–15 µs).
 */
export async function smallZstdDecoder(): Promise<(packed: Uint8Array, rawLength: number) => Buffer> {
  const wasm = await wasmModule();
  return (packed, rawLength) => {
    // The capacity counts only when the frame does not say its size; a frame that says
    // another size is caught by the length check (and then by the blob's id).
    const out = asBuffer(wasm.decompress(asBuffer(packed), { defaultHeapSize: Math.max(1, rawLength) }));
    if (out.length !== rawLength)
      throw new Error(`zstd: ${out.length} bytes where ${rawLength} were expected`);
    return out;
  };
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * zstd on the calling thread into memory of its own, for a caller that compresses many
 * small blobs and seals each at once (a chunk worker sealing a batch): outputs are written
 * back to back into one area and read as views of it, where `smallCodec` makes a buffer
 * per blob (the WebAssembly build's `compressUsingDict` mallocs input, output and
 * dictionary, copies the output out and frees all three on every call). Measured on the
 * bench's real tree's blobs of up to 16 KiB: ~10 % less CPU in compression, and no garbage
 * buffer per blob. The frames are the same bytes (ZSTD_compress_usingDict without a
 * dictionary is ZSTD_compressCCtx, as before).
 */
export interface ScratchZstd {
  /** Starts a series: outputs before are gone; `capacity` is room for the series' inputs' bounds. */
  begin(capacity: number): void;
  /** Compresses `data` at `level` after the series' outputs; returns where it went. */
  compress(data: Uint8Array, level: number): { offset: number; length: number };
  /** An output of the series, as a view: valid until the next `begin` or `compress`. */
  view(offset: number, length: number): Uint8Array;
  /** The most bytes `compress` may write for `length` input bytes. */
  bound(length: number): number;
}

/** The WebAssembly module's exports (Emscripten's `Module`) that ScratchZstd uses. */
interface WasmExports {
  HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _free(pointer: number): void;
  _ZSTD_compressBound(size: number): number;
  _ZSTD_isError(code: number): number;
  _ZSTD_createCCtx(): number;
  _ZSTD_compress_usingDict(
    cctx: number,
    dst: number,
    dstCapacity: number,
    src: number,
    srcSize: number,
    dict: number,
    dictSize: number,
    level: number,
  ): number;
}

let loadingScratch: Promise<ScratchZstd | undefined> | undefined;

/**
 * The scratch codec of this thread (one per thread, on the thread's WebAssembly instance),
 * or undefined where the module's exports cannot be reached (another version of the
 * package, laid out otherwise): the caller then uses `smallCodec`.
 */
export function scratchZstd(): Promise<ScratchZstd | undefined> {
  loadingScratch ??= loadScratch();
  return loadingScratch;
}

async function loadScratch(): Promise<ScratchZstd | undefined> {
  try {
    await wasmModule();
    // `Module` is not exported by the package's entry; its module.js, next to the entry,
    // is the instance the entry initialised (one CommonJS module cache).
    const require = createRequire(import.meta.url);
    const entry = require.resolve('@bokuweb/zstd-wasm');
    const { Module } = require(path.join(path.dirname(entry), 'module.js')) as {
      Module?: Partial<WasmExports>;
    };
    if (!Module || !isWasmExports(Module)) return undefined;
    return new WasmScratch(Module);
  } catch {
    return undefined;
  }
}

function isWasmExports(m: Partial<WasmExports>): m is WasmExports {
  return (
    m.HEAPU8 instanceof Uint8Array &&
    typeof m._malloc === 'function' &&
    typeof m._free === 'function' &&
    typeof m._ZSTD_compressBound === 'function' &&
    typeof m._ZSTD_isError === 'function' &&
    typeof m._ZSTD_createCCtx === 'function' &&
    typeof m._ZSTD_compress_usingDict === 'function'
  );
}

class WasmScratch implements ScratchZstd {
  private readonly cctx: number;
  /** The input area (one blob at a time) and the output area (the series, back to back). */
  private src = 0;
  private srcCapacity = 0;
  private dst = 0;
  private dstCapacity = 0;
  private used = 0;

  constructor(private readonly m: WasmExports) {
    this.cctx = m._ZSTD_createCCtx();
    if (!this.cctx) throw new Error('zstd: no compression context');
  }

  bound(length: number): number {
    return this.m._ZSTD_compressBound(length);
  }

  begin(capacity: number): void {
    this.used = 0;
    if (capacity <= this.dstCapacity) return;
    this.dst = this.area(this.dst, capacity);
    this.dstCapacity = capacity;
  }

  compress(data: Uint8Array, level: number): { offset: number; length: number } {
    const m = this.m;
    const bound = m._ZSTD_compressBound(data.byteLength);
    // A caller that reserved too little still gets its output: the area grows (the earlier
    // outputs are copied along).
    if (this.used + bound > this.dstCapacity) {
      const capacity = Math.max(this.used + bound, this.dstCapacity * 2);
      const bigger = this.area(0, capacity);
      m.HEAPU8.copyWithin(bigger, this.dst, this.dst + this.used);
      if (this.dst) m._free(this.dst);
      this.dst = bigger;
      this.dstCapacity = capacity;
    }
    if (data.byteLength > this.srcCapacity) {
      this.srcCapacity = Math.max(data.byteLength, this.srcCapacity * 2, 64 * 1024);
      this.src = this.area(this.src, this.srcCapacity);
    }
    // HEAPU8 is read after every malloc: growing the memory replaces it.
    m.HEAPU8.set(data, this.src);
    const offset = this.used;
    const written = m._ZSTD_compress_usingDict(
      this.cctx,
      this.dst + offset,
      bound,
      this.src,
      data.byteLength,
      0,
      0,
      level,
    );
    if (m._ZSTD_isError(written)) throw new Error(`zstd: compression failed (code ${written})`);
    this.used += written;
    return { offset, length: written };
  }

  view(offset: number, length: number): Uint8Array {
    return this.m.HEAPU8.subarray(this.dst + offset, this.dst + offset + length);
  }

  /** A new area of `size` bytes in the module's memory, the old one (if any) freed. */
  private area(old: number, size: number): number {
    if (old) this.m._free(old);
    const pointer = this.m._malloc(size);
    if (!pointer) throw new Error(`zstd: no room for ${size} bytes`);
    return pointer;
  }
}
