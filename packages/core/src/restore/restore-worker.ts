/**
 * A worker thread that does the per-blob and per-file work of a restore, so that both cores
 * work while the main thread walks the trees, plans and downloads:
 *
 * - it opens the blobs of one downloaded range of a pack (decrypts, decompresses, checks
 *   each one's keyed id, as `Repository.openBlob` does);
 * - it writes every small file whose whole content is one of those blobs, with the same
 *   steps and guarantees as the main thread's path (restore/contents.ts): created under its
 *   temporary name with O_EXCL|O_NOFOLLOW, written, owner, mode and times set through the
 *   descriptor, read back with --verify, then renamed into place. All with plain blocking
 *   calls: no thread-pool round trip, no promise per file;
 *
 * No plain byte crosses between threads: what is decoded here is written here. Larger
 * files (several chunks) and files with extended attributes stay on the main thread.
 *
 * Damaged data fails only what needs it: a blob that does not open is named in the answer,
 * with the message `openBlob` would give, and the files that need it are not written.
 */

import { createDecipheriv, createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  ftruncateSync,
  futimesSync,
  lstatSync,
  openSync,
  readSync,
  renameSync,
  unlinkSync,
} from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { smallZstdDecoder, zstd } from '../compress/zstd.js';
import { NONCE_BYTES, OVERHEAD, TAG_BYTES } from '../crypto/cipher.js';
import { writeFullySync } from '../util/write-fully.js';
import { type FsPath, tmpNameFor } from './safe-fs.js';

export interface RestoreWorkerData {
  encKey: Uint8Array;
  idKey: Uint8Array;
}

/** A path as text or as bytes (a name that is not UTF-8 crosses as a Uint8Array). */
export type WorkerPath = string | Uint8Array;

/** A file whose whole content is one blob, written here. */
export interface WholeFile {
  tmp: FsPath;
  dest: FsPath;
  size: number;
  mode: number;
  /** The time argument for futimes (safe-fs.ts utimeArg). */
  mtime: string;
  /** The owner to give it (as root, when the snapshot has one), unless `ownerMatches`. */
  uid?: number;
  gid?: number;
  /** A file created here already has that owner (a stale file replaced may not). */
  ownerMatches: boolean;
}

export interface BlobTask {
  id: string;
  /** Where its sealed bytes are in the batch's `data`. */
  at: number;
  length: number;
  rawLength: number;
  compressed: boolean;
}

/**
 * A batch, flat: a few arrays cross between threads faster than an object per blob and per
 * file (structured clone; profiled, restore of the real tree: 0.27 s on the main thread).
 * `numbers` holds, per blob, NUMBERS_PER_BLOB numbers (at, length, rawLength, compressed,
 * files), each followed by NUMBERS_PER_FILE per file it fills (size, mode, uid, gid — -1
 * for none —, ownerMatches); `ids` the blobs' ids one after the other; `dests` and `mtimes`
 * one per file (its temporary name is derived here, as the main thread does: tmpNameFor).
 */
export type ToWorker = {
  type: 'batch';
  job: number;
  pack: string;
  data: Uint8Array;
  numbers: Float64Array;
  ids: string;
  dests: WorkerPath[];
  mtimes: string[];
  verify: boolean;
};

export const NUMBERS_PER_BLOB = 5;
export const NUMBERS_PER_FILE = 5;
const ID_CHARS = 64;

/** A failed write: the error's message and code. */
export type WriteError = { message: string; code?: string };

/** Per file of a batch, in order: written, written and verified, failed (see errors), or its blob is damaged. */
export const WRITTEN = 0;
export const VERIFIED = 1;
export const FAILED = 2;
export const DAMAGED = 3;

export interface BatchOutcome {
  files: Uint8Array;
  /** The failed files' errors, in order. */
  errors: WriteError[];
  /** Per blob: why it does not open (then none of its files was written), or null. */
  damage: Array<string | null>;
}

export type FromWorker =
  | ({ type: 'done'; job: number } & BatchOutcome)
  | { type: 'error'; job: number; message: string };

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const IS_ROOT = process.platform !== 'win32' && process.getuid?.() === 0;
/** Up to this size a blob is decompressed here with the WebAssembly zstd, on this thread: for small blobs a call to the native one costs more in its thread-pool round trip than the work. */
const SMALL_BLOB = 64 * 1024;

function asPath(path: WorkerPath): FsPath {
  return typeof path === 'string' ? path : Buffer.from(path.buffer, path.byteOffset, path.byteLength);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return b.length > 0;
}

/** Opens one sealed blob: decrypted, decompressed, checked against its keyed id. */
export class BlobOpener {
  private readonly encKey: KeyObject;
  private readonly idKey: KeyObject;
  private constructor(
    data: RestoreWorkerData,
    private readonly small: (packed: Uint8Array, rawLength: number) => Buffer,
    private readonly large: (packed: Uint8Array) => Promise<Buffer>,
  ) {
    this.encKey = createSecretKey(data.encKey);
    this.idKey = createSecretKey(data.idKey);
  }

  static async create(data: RestoreWorkerData): Promise<BlobOpener> {
    const small = await smallZstdDecoder();
    const codec = await zstd();
    return new BlobOpener(data, small, (packed) => codec.decompress(packed));
  }

  id(plain: Uint8Array): string {
    return createHmac('sha256', this.idKey).update(plain).digest('hex');
  }

  /** The plain bytes, or throws the message `Repository.openBlob` gives for the damage. */
  async open(sealed: Uint8Array, blob: BlobTask, pack: string): Promise<Buffer> {
    const what = `blob ${blob.id} in pack ${pack}`;
    if (sealed.byteLength !== blob.length) throw new Error(`pack ${pack} is cut short`);
    let opened: Buffer;
    try {
      if (sealed.byteLength < OVERHEAD) throw new Error('ciphertext too short');
      const decipher = createDecipheriv('aes-256-gcm', this.encKey, sealed.subarray(0, NONCE_BYTES));
      decipher.setAuthTag(sealed.subarray(sealed.byteLength - TAG_BYTES));
      const body = decipher.update(sealed.subarray(NONCE_BYTES, sealed.byteLength - TAG_BYTES));
      const tail = decipher.final();
      opened = tail.length === 0 ? body : Buffer.concat([body, tail]);
    } catch {
      throw new Error(`${what} does not decrypt: it was altered or damaged`);
    }
    let plain = opened;
    if (blob.compressed) {
      try {
        plain = blob.rawLength <= SMALL_BLOB ? this.small(opened, blob.rawLength) : await this.large(opened);
      } catch {
        throw new Error(`${what} does not decompress`);
      }
    }
    if (plain.length !== blob.rawLength || this.id(plain) !== blob.id)
      throw new Error(`${what} has other contents`);
    return plain;
  }
}

/**
 * Writes `plain` as the whole of `file` (see restore/contents.ts, writeWholeSync, for the
 * steps: this is the same sequence). Returns 1 when read back and verified, else 0.
 */
export function writeWholeFile(
  file: WholeFile,
  plain: Uint8Array,
  verify: { id: (bytes: Uint8Array) => string; blobId: string } | undefined,
): 0 | 1 {
  const tmp = file.tmp;
  const flags =
    (verify ? constants.O_RDWR : constants.O_WRONLY) | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW;
  let replacedStale = false;
  let fd: number;
  try {
    fd = openSync(tmp, flags, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // What a killed run left under the temporary name: replaced (never a folder, no link followed).
    const st = lstatSync(tmp, { throwIfNoEntry: false });
    if (st && !st.isDirectory()) unlinkSync(tmp);
    fd = openSync(tmp, flags, 0o600);
    replacedStale = true;
  }
  let verified: 0 | 1 = 0;
  try {
    try {
      let end = 0;
      if (!isZero(plain)) {
        writeFullySync(fd, plain, 0);
        end = plain.length;
      }
      if (file.size > end) ftruncateSync(fd, file.size);
      if (verify) {
        const bad = readBack(fd, plain.length, verify);
        if (bad) throw new Error(`read back, it differs from the snapshot: ${bad}`);
        verified = 1;
      }
      if (
        IS_ROOT &&
        file.uid !== undefined &&
        file.gid !== undefined &&
        (replacedStale || !file.ownerMatches)
      )
        fchownSync(fd, file.uid, file.gid);
      fchmodSync(fd, file.mode);
      futimesSync(fd, file.mtime as unknown as number, file.mtime as unknown as number);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file.dest);
  } catch (error) {
    // Nothing of a failed file stays under its temporary name.
    try {
      unlinkSync(tmp);
    } catch {}
    throw error;
  }
  return verified;
}

/** compareContents (restore/compare.ts) for a file of one chunk, on a plain descriptor. */
function readBack(
  fd: number,
  length: number,
  verify: { id: (bytes: Uint8Array) => string; blobId: string },
): string | undefined {
  const buffer = Buffer.allocUnsafe(length + 1);
  let got = 0;
  while (got < buffer.length) {
    const n = readSync(fd, buffer, got, buffer.length - got, got);
    if (n === 0) break;
    got += n;
  }
  if (got < length || verify.id(buffer.subarray(0, length)) !== verify.blobId) return `bytes 0–${length}`;
  return got > length ? `longer than ${length} bytes` : undefined;
}

function writeError(error: unknown): WriteError {
  const code = (error as NodeJS.ErrnoException).code;
  return code === undefined ? { message: errorText(error) } : { message: errorText(error), code };
}

/** Everything one batch asks for: each blob opened, its files written. */
export async function runBatch(opener: BlobOpener, message: ToWorker): Promise<BatchOutcome> {
  const { data, numbers, ids, dests, mtimes } = message;
  const outcome: BatchOutcome = { files: new Uint8Array(dests.length), errors: [], damage: [] };
  let at = 0;
  let file = 0;
  for (let b = 0; at < numbers.length; b++) {
    const blob: BlobTask = {
      id: ids.slice(b * ID_CHARS, (b + 1) * ID_CHARS),
      at: numbers[at]!,
      length: numbers[at + 1]!,
      rawLength: numbers[at + 2]!,
      compressed: numbers[at + 3] === 1,
    };
    const count = numbers[at + 4]!;
    at += NUMBERS_PER_BLOB;
    let plain: Buffer | undefined;
    try {
      plain = await opener.open(data.subarray(blob.at, blob.at + blob.length), blob, message.pack);
      outcome.damage.push(null);
    } catch (error) {
      outcome.damage.push(errorText(error));
    }
    const verify = message.verify ? { id: (b: Uint8Array) => opener.id(b), blobId: blob.id } : undefined;
    for (let f = 0; f < count; f++, file++, at += NUMBERS_PER_FILE) {
      if (!plain) {
        outcome.files[file] = DAMAGED;
        continue;
      }
      const uid = numbers[at + 2]!;
      const gid = numbers[at + 3]!;
      const dest = asPath(dests[file]!);
      const whole: WholeFile = {
        tmp: tmpNameFor(dest),
        dest,
        size: numbers[at]!,
        mode: numbers[at + 1]!,
        mtime: mtimes[file]!,
        ...(uid >= 0 && gid >= 0 ? { uid, gid } : {}),
        ownerMatches: numbers[at + 4] === 1,
      };
      try {
        outcome.files[file] = writeWholeFile(whole, plain, verify) === 1 ? VERIFIED : WRITTEN;
      } catch (error) {
        outcome.files[file] = FAILED;
        outcome.errors.push(writeError(error));
      }
    }
  }
  return outcome;
}

if (parentPort && (workerData as { restoreWorker?: boolean } | undefined)?.restoreWorker) {
  const port = parentPort;
  const ready = BlobOpener.create(workerData as RestoreWorkerData);
  // One batch at a time, in the order they came.
  let chain: Promise<unknown> = Promise.resolve();
  port.on('message', (message: ToWorker) => {
    chain = chain.then(async () => {
      try {
        const outcome = await runBatch(await ready, message);
        port.postMessage({ type: 'done', job: message.job, ...outcome } satisfies FromWorker, [
          outcome.files.buffer as ArrayBuffer,
        ]);
      } catch (error) {
        port.postMessage({ type: 'error', job: message.job, message: errorText(error) } satisfies FromWorker);
      }
    });
  });
}
