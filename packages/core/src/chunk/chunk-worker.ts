/**
 * A worker thread that does the per-byte work of a push, so that both cores work while
 * the main thread walks, deduplicates, packs and uploads:
 *
 * - `file`: reads one large file, cuts it with FastCDC and tells the main thread each
 *   chunk's keyed id (`chunkId`); the main thread, which holds the index, answers
 *   `decide`: a known chunk is dropped, a new one compressed and encrypted here and handed
 *   over sealed (`chunkSealed`, its buffer transferred, and transferred back with the `ack`
 *   for the next chunk: no garbage per chunk). At most `credits` chunks are in flight, so
 *   memory stays bounded however large the file.
 * - `batch` then `seal`: small files in batches (small-file-batch.ts). The worker reads a
 *   batch with plain blocking calls (no thread-pool round trip per file), chunks and hashes
 *   it and answers with the ids only. The main thread, which holds the index, answers
 *   with the chunks it lacks; the worker compresses and encrypts those and hands them over
 *   sealed, in one transferred buffer. The bytes of a small file never reach the main
 *   thread unless they are new, and then only once, sealed.
 */

import { createSecretKey } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { listXattrs, xattrModuleSync } from '../archive/xattrs.js';
import {
  type BatchCompressor,
  batchCompressor,
  type CompressionMode,
  compressBlob,
} from '../compress/compression.js';
import { contentIdSync, encryptInto, OVERHEAD, type SecretKey } from '../crypto/cipher.js';
import { BufferPool } from '../util/buffer-pool.js';
import { GarbageHint } from '../util/gc-hint.js';
import { grown } from '../util/grown.js';
import { type ChunkerParams, FastCdcChunker } from './fastcdc.js';
import { BATCH_MAX, BATCH_MIN, workerPoolBudgets } from './worker-budgets.js';

export interface ChunkWorkerData {
  seed: Uint8Array;
  idKey: Uint8Array;
  params: ChunkerParams;
  credits: number;
  /** For `seal`: the encryption key and how blobs are compressed (as Repository.sealBlob). */
  encKey?: Uint8Array;
  compression?: CompressionMode;
  /**
   * List each batched file's xattr names after reading it (one llistxattr, here rather
   * than on the main thread): its result says whether it has any.
   */
  xattrs?: boolean;
}

/** A path as text or as bytes (a name that is not UTF-8 crosses as a Uint8Array). */
export type WorkerPath = string | Uint8Array;

export interface BatchFile {
  path: WorkerPath;
  /** The size lstat gave: the read buffer's size (a file that grew since is read to its end). */
  size: number;
}

/** A file of a batch: its chunks' ids and lengths, or why it could not be read. */
export type BatchFileResult =
  | { ids: string[]; lengths: number[]; hasXattrs?: boolean }
  | { message: string; code?: string };

/**
 * `give` on any message: a sealed batch's buffer handed back (as the `give` message does),
 * riding on the next message to the worker rather than costing one of its own.
 */
export type ToWorker = ToWorkerMessage & { give?: ArrayBuffer };

type ToWorkerMessage =
  | { type: 'file'; job: number; path: WorkerPath }
  /** A sealed chunk was packed: its credit back, and its buffer to reuse. */
  | { type: 'ack'; job: number; buffer?: ArrayBuffer }
  | { type: 'decide'; job: number; index: number; seal: boolean }
  | { type: 'batch'; job: number; files: BatchFile[] }
  /** `want`: indexes into the batch's chunks (all files' chunks, in order) to seal. */
  | { type: 'seal'; job: number; want: number[] }
  /** Nothing of the batch is new: its chunks are freed, no answer. */
  | { type: 'drop'; job: number }
  /** A `sealed` answer's buffer, packed (copied) and handed back for the next batch. */
  | { type: 'give'; buffer: ArrayBuffer };

export type FromWorker =
  | { type: 'chunkId'; job: number; index: number; id: string; length: number }
  | { type: 'chunkSealed'; job: number; index: number; data: Uint8Array; length: number; compressed: boolean }
  | { type: 'done'; job: number; chunks: number; size: number }
  | { type: 'error'; job: number; message: string; code?: string }
  | { type: 'ids'; job: number; files: BatchFileResult[] }
  /** The wanted chunks sealed back to back in `data`, as `repo.sealBlob` would make them. */
  | { type: 'sealed'; job: number; data: Uint8Array; lengths: number[]; compressed: boolean[] };

const READ_BUFFER = 1024 * 1024;
/** Dropped buffer bytes between two full collections in a worker (see gc-hint.ts). */
const GARBAGE_BYTES = 32 * 1024 * 1024;
/** The smallest pooled chunk buffer (a chunk of a large file is at least minSize, 256 KiB by default). */
const MIN_POOLED = 64 * 1024;

/**
 * One compression at a time per worker: each zstd call allocates a context and an output
 * buffer of the chunk's bound on a thread-pool thread, so concurrent calls (up to `credits`
 * per worker, on every pool thread) multiply that memory and scatter it over malloc arenas
 * that keep it. One per worker is as fast on a machine whose cores the workers already fill.
 */
export function serialize<T, R>(work: (input: T) => Promise<R>): (input: T) => Promise<R> {
  let last: Promise<unknown> = Promise.resolve();
  return (input) => {
    const run = last.then(
      () => work(input),
      () => work(input),
    );
    last = run.catch(() => undefined);
    return run;
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function asPath(path: WorkerPath): string | Buffer {
  return typeof path === 'string' ? path : Buffer.from(path.buffer, path.byteOffset, path.byteLength);
}

/**
 * Reads a file whose expected size is known into `slab` at `at` (room for `size + 1` bytes
 * there), blocking: a file that grew since is read to its end into a buffer of its own.
 */
function readWhole(path: string | Buffer, size: number, slab: Buffer, at: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    let buffer = slab.subarray(at, at + size + 1);
    let length = 0;
    for (;;) {
      if (length === buffer.length) buffer = grown(buffer);
      const want = buffer.length - length;
      const bytesRead = readSync(fd, buffer, length, want, length);
      length += bytesRead;
      // A short read of a regular file is its end: no second call to be told so.
      if (bytesRead < want) return buffer.subarray(0, length);
    }
  } finally {
    closeSync(fd);
  }
}

if (parentPort) {
  const port = parentPort;
  const data = workerData as ChunkWorkerData;
  const idKey: SecretKey = createSecretKey(data.idKey);
  const encKey: SecretKey | undefined = data.encKey ? createSecretKey(data.encKey) : undefined;
  const compression: CompressionMode = data.compression ?? 'off';
  const budgets = workerPoolBudgets(data.params, data.credits);
  /**
   * Bytes of buffers dropped by the chunks of large files (zstd's and the cipher's
   * outputs): a full collection every GARBAGE_BYTES (gc-hint.ts). Not counted for batches
   * of small files: they make enough heap garbage that V8 collects often on its own
   * (measured: counting them cost 10 % more CPU on 100k small files, for no less memory).
   */
  const garbage = new GarbageHint(GARBAGE_BYTES);
  const compress = serialize((chunk: Buffer) => compressBlob(chunk, compression));
  /**
   * Small-file batches' blobs that compress on this thread, into one scratch area: loaded
   * by the first seal (a push of large files only never instantiates the WebAssembly build).
   */
  let batchCodec: Promise<BatchCompressor> | undefined;
  let credits = data.credits;
  let waiting: (() => void) | undefined;
  const queue: Array<{ job: number; path: WorkerPath }> = [];
  let busy = false;
  /** Chunks of batches read (views of the batch's slab), kept until the main thread says which to seal. */
  const batches = new Map<number, { chunks: Buffer[]; slab: Buffer }>();
  /**
   * Slabs the batches are read into, and the buffers their sealed chunks go back in
   * (those come back from the main thread with `give`): reused batch after batch, so a
   * push of a million small files makes no garbage buffer per batch.
   */
  const batchSlabs = new BufferPool(BATCH_MIN, BATCH_MAX, budgets.batchSlabs);
  const sealedBatches = new BufferPool(BATCH_MIN, BATCH_MAX, budgets.sealedBatches);
  const endBatch = (job: number) => {
    const batch = batches.get(job);
    batches.delete(job);
    if (batch) batchSlabs.give(batch.slab.buffer);
    return batch;
  };
  /** One chunker for every small file: `finish` resets it. */
  const smallChunker = new FastCdcChunker(data.seed, data.params);
  const xattrMod = data.xattrs ? xattrModuleSync() : undefined;

  /** Chunks of large files told to the main thread and not settled: by job, then index. */
  const undecided = new Map<string, Buffer>();
  /** Per job: chunks not settled yet, and who waits for them to be. */
  const open = new Map<number, { count: number; drained?: () => void }>();
  /**
   * Buffers for sealed chunks, sized to the chunk (see BufferPool), handed to the main
   * thread and back with its `ack`: about the chunks in flight, not `credits` of the
   * largest chunk size.
   */
  const sealedBuffers = new BufferPool(MIN_POOLED, data.params.maxSize + OVERHEAD, budgets.sealed);

  const takeCredit = async () => {
    while (credits <= 0) await new Promise<void>((resolve) => (waiting = resolve));
    credits--;
  };
  const giveCredit = (job: number) => {
    credits++;
    const wake = waiting;
    waiting = undefined;
    wake?.();
    const state = open.get(job);
    if (state && --state.count === 0) state.drained?.();
  };

  const sealed = (job: number, index: number, chunk: Buffer) => {
    void (async () => {
      const packed = await compress(chunk);
      const body = packed ?? chunk;
      const length = body.length + OVERHEAD;
      // zstd's output, used or not, and the cipher's (encryptInto copies it) are dropped.
      garbage.drop((packed?.length ?? 0) + chunk.length);
      const buffer = sealedBuffers.take(length);
      encryptInto(encKey!, body, Buffer.from(buffer, 0, length), 0);
      releaseChunk(chunk);
      port.postMessage(
        {
          type: 'chunkSealed',
          job,
          index,
          data: new Uint8Array(buffer, 0, length),
          length: chunk.length,
          compressed: packed !== undefined,
        } satisfies FromWorker,
        [buffer],
      );
    })().catch((error: unknown) => {
      // Sealing failed (no key, a codec error): the file fails, and with it the push.
      failed.set(job, errorText(error));
      releaseChunk(chunk);
      giveCredit(job);
    });
  };
  /** Jobs whose sealing failed: their end is an error whatever the read did. */
  const failed = new Map<number, string>();

  /**
   * Large files are read into a ring of buffers reused file after file, and each chunk is
   * copied into a buffer of `chunkBuffers` (given back when the chunk settles): no buffer
   * is allocated per read or per chunk, so the worker's memory does not depend on the
   * file's size, nor on when the garbage collector frees what a read left behind. The
   * chunker keeps views of the last reads for a chunk not cut yet (less than `maxSize`
   * bytes), so a ring buffer is overwritten only once nothing can refer to it.
   */
  const ring = Array.from({ length: Math.ceil(data.params.maxSize / READ_BUFFER) + 2 }, () =>
    Buffer.allocUnsafeSlow(READ_BUFFER),
  );
  const chunkBuffers = new BufferPool(MIN_POOLED, data.params.maxSize, budgets.chunks);
  const chunkBuffer = (length: number): Buffer => Buffer.from(chunkBuffers.take(length), 0, length);
  /** A settled chunk's buffer, back to the pool (within its budget: see BufferPool). */
  const releaseChunk = (chunk: Buffer | undefined) => chunkBuffers.give(chunk?.buffer);

  const processFile = async (job: number, path: WorkerPath) => {
    const chunker = new FastCdcChunker(data.seed, data.params, (parts, length) => {
      const out = chunkBuffer(length);
      let at = 0;
      for (const part of parts) at += part.copy(out, at);
      return out;
    });
    const state: { count: number; drained?: () => void } = { count: 0 };
    open.set(job, state);
    let index = 0;
    let size = 0;
    const emit = async (chunk: Buffer) => {
      size += chunk.length;
      const id = contentIdSync(idKey, chunk);
      await takeCredit();
      state.count++;
      undecided.set(`${job}:${index}`, chunk);
      port.postMessage({
        type: 'chunkId',
        job,
        index: index++,
        id,
        length: chunk.length,
      } satisfies FromWorker);
    };
    /** A chunk that is a view of a ring buffer is copied out before the ring comes round. */
    const own = (chunk: Buffer): Buffer => {
      if (chunkBuffers.owns(chunk.buffer)) return chunk;
      const out = chunkBuffer(chunk.length);
      chunk.copy(out);
      return out;
    };
    let end: FromWorker;
    let fd: number | undefined;
    try {
      fd = openSync(asPath(path), 'r');
      for (let turn = 0, position = 0; ; turn++) {
        const buffer = ring[turn % ring.length]!;
        const bytesRead = readSync(fd, buffer, 0, buffer.length, position);
        if (bytesRead === 0) break;
        position += bytesRead;
        const chunks = chunker.push(buffer.subarray(0, bytesRead)).map(own);
        for (const chunk of chunks) await emit(chunk);
        // Between reads, messages (decisions, acks) are taken: the read is blocking.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      const last = chunker.finish();
      if (last) await emit(own(last));
      end = { type: 'done', job, chunks: index, size };
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      end = { type: 'error', job, message: e.message, code: e.code };
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    // Every chunk told settles (dropped, or sealed and packed) before the end is told.
    if (state.count > 0) await new Promise<void>((resolve) => (state.drained = resolve));
    open.delete(job);
    const failure = failed.get(job);
    failed.delete(job);
    port.postMessage(failure ? ({ type: 'error', job, message: failure } satisfies FromWorker) : end);
  };

  const pump = async () => {
    if (busy) return;
    busy = true;
    while (queue.length > 0) {
      const next = queue.shift()!;
      await processFile(next.job, next.path);
    }
    busy = false;
  };

  const readBatch = (job: number, files: BatchFile[]) => {
    // One slab for the whole batch: one allocation, not one per file.
    let total = 0;
    for (const file of files) total += file.size + 1;
    const slab = Buffer.from(batchSlabs.take(total), 0, total);
    const chunks: Buffer[] = [];
    const results: BatchFileResult[] = [];
    let at = 0;
    for (const file of files) {
      let content: Buffer;
      try {
        content = readWhole(asPath(file.path), file.size, slab, at);
      } catch (error) {
        const e = error as NodeJS.ErrnoException;
        results.push({ message: e.message, code: typeof e.code === 'string' ? e.code : undefined });
        at += file.size + 1;
        continue;
      }
      at += file.size + 1;
      const ids: string[] = [];
      const lengths: number[] = [];
      const take = (chunk: Buffer) => {
        ids.push(contentIdSync(idKey, chunk));
        lengths.push(chunk.length);
        chunks.push(chunk);
      };
      for (const chunk of smallChunker.push(content)) take(chunk);
      const last = smallChunker.finish();
      if (last) take(last);
      const names = xattrMod ? listXattrs(xattrMod, asPath(file.path)) : undefined;
      results.push(names ? { ids, lengths, hasXattrs: names.length > 0 } : { ids, lengths });
    }
    batches.set(job, { chunks, slab });
    port.postMessage({ type: 'ids', job, files: results } satisfies FromWorker);
  };

  const sealBatch = async (job: number, want: number[]) => {
    const batch = batches.get(job);
    try {
      if (!batch) throw new Error(`chunk worker: no batch ${job}`);
      const chunks = batch.chunks;
      if (want.length > 0 && !encKey) throw new Error('chunk worker: sealing needs the encryption key');
      // As Repository.sealBlob: compressed when that pays, then encrypted. First the
      // blobs the thread pool compresses (compressBlob, one at a time as every call here)…
      batchCodec ??= batchCompressor(compression);
      const codec = await batchCodec;
      const pooled = await Promise.all(
        want.map((i) => (codec.takes(chunks[i]!.length) ? undefined : compress(chunks[i]!))),
      );
      // …then, with no await from here to the post, the others into the codec's scratch
      // (views of it are valid only until something else compresses on this thread).
      let bytes = 0;
      let count = 0;
      for (const i of want) {
        const length = chunks[i]!.length;
        if (codec.takes(length)) {
          bytes += length;
          count++;
        }
      }
      codec.begin(bytes, count);
      const added = want.map((i, k) => (codec.takes(chunks[i]!.length) ? codec.add(chunks[i]!) : pooled[k]));
      const bodies = added.map((a, k) => (a === undefined ? chunks[want[k]!]! : codec.body(a)));
      let total = 0;
      const lengths = bodies.map((body) => {
        const length = body.byteLength + OVERHEAD;
        total += length;
        return length;
      });
      const out = Buffer.from(sealedBatches.take(total), 0, total);
      let at = 0;
      for (const body of bodies) at += encryptInto(encKey!, body, out, at);
      const sealedBytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      port.postMessage(
        {
          type: 'sealed',
          job,
          data: sealedBytes,
          lengths,
          compressed: added.map((a) => a !== undefined),
        } satisfies FromWorker,
        [out.buffer as ArrayBuffer],
      );
    } catch (error) {
      // No code: whatever failed here, it is not a file that could not be read.
      port.postMessage({ type: 'error', job, message: errorText(error) } satisfies FromWorker);
    } finally {
      // Sealed (copied out) or failed: the slab is free for the next batch.
      endBatch(job);
    }
  };

  port.on('message', (message: ToWorker) => {
    // Before the message itself: a `seal` takes its buffer from the pool it refills.
    if (message.give) sealedBatches.adopt(message.give);
    switch (message.type) {
      case 'ack':
        sealedBuffers.adopt(message.buffer);
        giveCredit(message.job);
        break;
      case 'decide': {
        const key = `${message.job}:${message.index}`;
        const chunk = undecided.get(key);
        undecided.delete(key);
        if (chunk && message.seal && !failed.has(message.job)) sealed(message.job, message.index, chunk);
        else {
          releaseChunk(chunk);
          giveCredit(message.job);
        }
        break;
      }
      case 'file':
        queue.push({ job: message.job, path: message.path });
        void pump();
        break;
      case 'batch':
        try {
          readBatch(message.job, message.files);
        } catch (error) {
          // Not one file's read error (those are per file): the batch fails, and the push.
          endBatch(message.job);
          port.postMessage({
            type: 'error',
            job: message.job,
            message: errorText(error),
          } satisfies FromWorker);
        }
        break;
      case 'seal':
        void sealBatch(message.job, message.want);
        break;
      case 'drop':
        endBatch(message.job);
        break;
      case 'give':
        sealedBatches.adopt(message.buffer);
        break;
    }
  });
}
