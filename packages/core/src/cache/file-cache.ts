import {
  closeSync,
  promises as fs,
  fstatSync,
  fsyncSync,
  openSync,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { endianness } from 'node:os';
import path from 'node:path';

/** What identifies an unchanged file without reading it (lstat's values, to the nanosecond). */
export interface FileFingerprint {
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
}

const MAGIC = Buffer.from('BKFC2\n');
/**
 * u32 length | u16 path length | path | u64 size | i64 mtimeNs | i64 ctimeNs | u64 ino | u32 n | n × 32-byte ids.
 * The top bit of `n` (NO_XATTRS) says the file had no extended attributes when recorded;
 * records written before it existed lack it (unknown: the xattrs are read), and a version
 * without it refuses a record having it as damaged (and starts an empty cache).
 */
const FIXED = 4 + 2 + 8 * 4 + 4;
const FINGERPRINT = 32;
const IO_BUFFER = 1024 * 1024;
const MAX_FILE = 0xffff_ffff;
const MAX_PATH = 0xffff;
const NO_XATTRS = 0x8000_0000;
const COUNT = 0x7fff_ffff;

/**
 * path + size + mtime + ctime + inode → chunk ids, from the last push. A hit lets an
 * unchanged file be re-pushed without reading it. ctime catches edits that restore the
 * mtime; the inode catches a file replaced by another. Losing it costs a re-read.
 *
 * Memory does not grow with what the file holds, and an unchanged push writes nothing:
 * - the previous push's records stay on disk (`files.bin`, binary); loading streams the
 *   file once and keeps only a hash table of (path hash, offset, length) — 24 bytes per
 *   file under the pushed roots; a lookup reads its one record (page cache) and compares
 *   the path itself, so a hash collision never gives a wrong answer;
 * - records outside the pushed roots are passed on as they are, during that one read;
 * - this push's records are compared, as they come, with the old file at the same place:
 *   as long as they are equal nothing is written. At the first difference the old file's
 *   equal prefix is copied to `files.bin.next` (a file copy, no parsing) and records are
 *   appended from there; `save` renames it over the old file. An unchanged re-push (the
 *   same files, in the walk's deterministic order) so leaves `files.bin` untouched.
 * docs/repository-format.md ("Local cache") gives the reasons for this format.
 */
export class FileCache {
  private readonly out: RecordWriter;
  private readonly pathScratch = Buffer.allocUnsafe(4096);
  /** The buffer `read` found the last record in (the window, or singleRecord). */
  private recordScratch: Buffer = Buffer.alloc(0);
  private encodeScratch = Buffer.allocUnsafe(4096);
  private saved = false;

  private constructor(
    private readonly file: string,
    private readonly fd: number | undefined,
    private readonly table: Uint32Array,
    private readonly count: number,
    oldSize: number,
  ) {
    this.out = new RecordWriter(file, fd, oldSize);
  }

  /**
   * Opens the cache for a push of `roots`: entries under them are looked up and replaced
   * by what this push records; entries outside them are kept as they are.
   */
  static async load(file: string, roots: readonly string[]): Promise<FileCache> {
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    // The JSON cache of earlier versions is dropped: one full read, once.
    await fs.rm(path.join(path.dirname(file), 'files.json'), { force: true });
    let fd: number | undefined;
    try {
      fd = openSync(file, 'r');
      const size = fstatSync(fd).size;
      if (size > MAX_FILE) throw new Error('file cache too large');
      const kept: Array<[number, number]> = [];
      const { table, count } = buildTable(fd, underRoots(roots), (offset, length) => {
        // Runs of records outside the roots, merged (copied on in one go below).
        const last = kept.at(-1);
        if (last && last[0] + last[1] === offset) last[1] += length;
        else kept.push([offset, length]);
      });
      const cache = new FileCache(file, fd, table, count, size);
      try {
        for (const [offset, length] of kept) cache.out.copyFrom(fd, offset, length);
      } catch {
        cache.discard(); // closes fd
        return new FileCache(file, undefined, new Uint32Array(3), 0, 0);
      }
      return cache;
    } catch {
      if (fd !== undefined) closeSync(fd);
      // missing, damaged or too large: start empty
      return new FileCache(file, undefined, new Uint32Array(3), 0, 0);
    }
  }

  /** Files under the pushed roots the previous push recorded. */
  get size(): number {
    return this.count;
  }

  /**
   * Whether the file the last successful `lookup` found had no extended attributes when it
   * was recorded. Setting or removing an xattr (or an ACL) changes the file's ctime, which
   * the fingerprint holds: on a hit they are as recorded, and an unchanged file with none
   * needs no llistxattr.
   */
  hitHadNoXattrs = false;

  lookup(filePath: string, now: FileFingerprint): string[] | undefined {
    if (this.fd === undefined || this.count === 0) return undefined;
    const wanted = this.encodePath(filePath);
    if (wanted === undefined) return undefined;
    const hash = fnv1a(wanted, 0, wanted.length);
    const slots = this.table.length / 3;
    const mask = slots - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const length = this.table[slot * 3 + 2]!;
      if (length === 0) return undefined;
      if (this.table[slot * 3] !== hash) continue;
      const found = this.read(this.table[slot * 3 + 1]!, length);
      if (found === undefined) return undefined;
      const record = this.recordScratch;
      const pathLength = record.readUInt16LE(found + 4);
      if (pathLength !== wanted.length || !sameBytes(record, found + 6, wanted, 0, pathLength)) continue;
      const at = found + 6 + pathLength;
      if (!sameBytes(record, at, fingerprintBytes(now), 0, FINGERPRINT)) return undefined;
      const counted = record.readUInt32LE(at + FINGERPRINT);
      const n = counted & COUNT;
      this.hitHadNoXattrs = (counted & NO_XATTRS) !== 0;
      this.hitPath = filePath;
      this.hitRecord = record.subarray(found, found + length);
      const chunks: string[] = new Array(n);
      for (let i = 0, c = at + FINGERPRINT + 4; i < n; i++, c += 32)
        chunks[i] = record.toString('hex', c, c + 32);
      return chunks;
    }
  }

  /** Where the old file's bytes start in `lookupWindow`: [windowStart, windowEnd). */
  private windowStart = 0;
  private windowEnd = 0;
  private readonly lookupWindow = Buffer.allocUnsafe(IO_BUFFER);

  /**
   * The record at `offset` in a buffer (returned: where it starts in that buffer). The
   * walk asks in the order the last push recorded, so records are read a window of 1 MiB
   * at a time (one read per ~7,000 files); a record far from the window is read alone.
   */
  private read(offset: number, length: number): number | undefined {
    if (offset >= this.windowStart && offset + length <= this.windowEnd) {
      this.recordScratch = this.lookupWindow;
      return offset - this.windowStart;
    }
    if (
      length <= this.lookupWindow.length &&
      offset >= this.windowStart &&
      offset < this.windowEnd + IO_BUFFER
    ) {
      const n = readSync(this.fd!, this.lookupWindow, 0, this.lookupWindow.length, offset);
      this.windowStart = offset;
      this.windowEnd = offset + n;
      if (n < length) return undefined;
      this.recordScratch = this.lookupWindow;
      return 0;
    }
    if (length > this.singleRecord.length) this.singleRecord = Buffer.allocUnsafe(length * 2);
    if (readSync(this.fd!, this.singleRecord, 0, length, offset) !== length) return undefined;
    this.recordScratch = this.singleRecord;
    return 0;
  }

  private singleRecord = Buffer.allocUnsafe(4096);

  /** The path and record bytes the last successful `lookup` found (valid until the next lookup). */
  private hitPath: string | undefined;
  private hitRecord: Buffer | undefined;

  /**
   * Records `filePath` unchanged: the very record the last `lookup` found for it, passed
   * on as its bytes (what `record` would encode again: same path, fingerprint and chunks).
   * False when that is not the last hit, or the xattr flag differs: then call `record`.
   */
  recordHit(filePath: string, noXattrs: boolean): boolean {
    if (this.hitPath !== filePath || this.hitRecord === undefined || noXattrs !== this.hitHadNoXattrs)
      return false;
    this.out.write(this.hitRecord);
    this.hitPath = undefined;
    this.hitRecord = undefined;
    return true;
  }

  /** `noXattrs`: the file was seen to have no extended attributes (false: not known). */
  record(filePath: string, fingerprint: FileFingerprint, chunks: readonly string[], noXattrs = false): void {
    const pathBytes = this.encodePath(filePath);
    if (pathBytes === undefined) return; // a path longer than 64 KiB: never cached
    const length = FIXED + pathBytes.length + chunks.length * 32;
    if (length > this.encodeScratch.length) this.encodeScratch = Buffer.allocUnsafe(length * 2);
    const out = this.encodeScratch;
    out.writeUInt32LE(length, 0);
    out.writeUInt16LE(pathBytes.length, 4);
    pathBytes.copy(out, 6);
    let at = 6 + pathBytes.length;
    fingerprintBytes(fingerprint).copy(out, at);
    if (chunks.length > COUNT) return;
    out.writeUInt32LE((chunks.length | (noXattrs ? NO_XATTRS : 0)) >>> 0, at + FINGERPRINT);
    at += FINGERPRINT + 4;
    for (const id of chunks) at += out.write(id, at, 32, 'hex');
    this.out.write(out.subarray(0, length));
  }

  /** Saves this push's entries with the kept ones (a push of other paths does not forget them). */
  async save(): Promise<void> {
    this.saved = true;
    const changed = this.out.close();
    if (this.fd !== undefined) closeSync(this.fd);
    if (this.out.failure !== undefined) {
      await fs.rm(`${this.file}.next`, { force: true });
      throw this.out.failure;
    }
    if (changed) await fs.rename(`${this.file}.next`, this.file);
  }

  /** Whether this push's records so far differ from the previous file (it will be rewritten). */
  get rewriting(): boolean {
    return this.out.diverged;
  }

  /** Closes both files without saving (a push that failed keeps the previous cache). */
  discard(): void {
    if (this.saved) return;
    this.saved = true;
    this.out.close();
    if (this.fd !== undefined) closeSync(this.fd);
    rmSync(`${this.file}.next`, { force: true });
  }

  /** `text` as UTF-8 in a reused buffer (no allocation per file), or undefined when too long. */
  private encodePath(text: string): Buffer | undefined {
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    if (text.length * 3 > this.pathScratch.length) {
      const bytes = Buffer.from(text);
      return bytes.length > MAX_PATH ? undefined : bytes;
    }
    const length = this.pathScratch.write(text, 0, 'utf8');
    return this.pathScratch.subarray(0, length);
  }
}

const fingerprintWords = new BigInt64Array(4);
const fingerprintScratch = Buffer.from(fingerprintWords.buffer);
const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * A fingerprint as its 32 record bytes (little-endian), in a buffer reused by the next call.
 * Through a BigInt64Array where the machine is little-endian: Buffer's writeBig*64LE do
 * bigint arithmetic, ~1 µs a file on a re-push. (Stores wrap to 64 bits: ino as unsigned.)
 */
function fingerprintBytes(f: FileFingerprint): Buffer {
  if (LITTLE_ENDIAN) {
    fingerprintWords[0] = BigInt(f.size);
    fingerprintWords[1] = f.mtimeNs;
    fingerprintWords[2] = f.ctimeNs;
    fingerprintWords[3] = f.ino;
    return fingerprintScratch;
  }
  fingerprintScratch.writeBigUInt64LE(BigInt(f.size), 0);
  fingerprintScratch.writeBigInt64LE(f.mtimeNs, 8);
  fingerprintScratch.writeBigInt64LE(f.ctimeNs, 16);
  fingerprintScratch.writeBigUInt64LE(f.ino, 24);
  return fingerprintScratch;
}

/** Whether a record's path (UTF-8 bytes) is one of the roots or below one. */
function underRoots(roots: readonly string[]): (record: Buffer, from: number, to: number) => boolean {
  const prefixes = roots.map((r) => Buffer.from(r.endsWith(path.sep) ? r : `${r}${path.sep}`));
  const exact = roots.map((r) => Buffer.from(r));
  return (record, from, to) => {
    const length = to - from;
    for (let i = 0; i < prefixes.length; i++) {
      const p = prefixes[i]!;
      if (length >= p.length && sameBytes(record, from, p, 0, p.length)) return true;
      const e = exact[i]!;
      if (length === e.length && sameBytes(record, from, e, 0, e.length)) return true;
    }
    return false;
  };
}

/** `n` bytes of `a` from `aAt` equal those of `b` from `bAt` (a loop: cheaper than compare's checks, for a path). */
function sameBytes(a: Buffer, aAt: number, b: Buffer, bAt: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[aAt + i] !== b[bAt + i]) return false;
  return true;
}

/**
 * Writes the next cache file, lazily: while what is written equals the old file at the
 * same offset, nothing is written (only compared, reading the old file sequentially);
 * at the first difference the equal prefix is copied and writing starts.
 *
 * A write that fails (a full cache disk) is remembered, not thrown: the push goes on,
 * and `save` — after the snapshot is written — reports it. Losing the cache costs time,
 * never data.
 */
class RecordWriter {
  private fd: number | undefined;
  private buffer: Buffer | undefined;
  private used = 0;
  /** Bytes of the new file so far. */
  private position = 0;
  /** A window on the old file, for comparing. */
  private window = Buffer.allocUnsafe(IO_BUFFER);
  private windowStart = 0;
  private windowEnd = 0;
  diverged: boolean;
  private closed = false;
  /** The first write error; after it, records are dropped. */
  failure: unknown;

  constructor(
    private readonly file: string,
    private readonly oldFd: number | undefined,
    private readonly oldSize: number,
  ) {
    this.diverged = oldFd === undefined;
    if (this.diverged) this.start(0);
    this.write(MAGIC);
  }

  /** Passes on `length` bytes of the old file from `offset`. */
  copyFrom(fd: number, offset: number, length: number): void {
    const chunk = Buffer.allocUnsafe(Math.min(length, IO_BUFFER));
    for (let done = 0; done < length; ) {
      const n = readSync(fd, chunk, 0, Math.min(chunk.length, length - done), offset + done);
      if (n <= 0) throw new Error('file cache cut short');
      this.write(chunk.subarray(0, n));
      done += n;
    }
  }

  write(bytes: Buffer): void {
    if (this.failure !== undefined) return;
    if (!this.diverged) {
      if (this.sameAsOld(bytes)) {
        this.position += bytes.length;
        return;
      }
      this.start(this.position);
      if (this.failure !== undefined) return;
    }
    try {
      if (this.used + bytes.length > this.buffer!.length) this.drain();
      if (bytes.length > this.buffer!.length) {
        this.writeAt(bytes, bytes.length);
        this.position += bytes.length;
        return;
      }
    } catch (error) {
      this.failure = error;
      this.used = 0;
      return;
    }
    bytes.copy(this.buffer!, this.used);
    this.used += bytes.length;
    this.position += bytes.length;
  }

  /** Finishes; true when the new file differs from the old one (and was written). */
  close(): boolean {
    if (this.closed) return this.diverged;
    this.closed = true;
    // Shorter than the old file: it differs too.
    if (!this.diverged && this.failure === undefined && this.position !== this.oldSize)
      this.start(this.position);
    if (this.fd === undefined) return this.diverged;
    try {
      if (this.failure === undefined) {
        this.drain();
        fsyncSync(this.fd);
      }
    } catch (error) {
      this.failure = error;
    } finally {
      closeSync(this.fd);
    }
    return this.diverged;
  }

  private sameAsOld(bytes: Buffer): boolean {
    const from = this.position;
    const to = from + bytes.length;
    if (to > this.oldSize) return false;
    if (from < this.windowStart || to > this.windowEnd) {
      if (bytes.length > this.window.length) this.window = Buffer.allocUnsafe(bytes.length * 2);
      const n = readSync(
        this.oldFd!,
        this.window,
        0,
        Math.min(this.window.length, this.oldSize - from),
        from,
      );
      this.windowStart = from;
      this.windowEnd = from + n;
      if (to > this.windowEnd) return false;
    }
    const at = from - this.windowStart;
    return this.window.compare(bytes, 0, bytes.length, at, at + bytes.length) === 0;
  }

  /** Starts the new file with the old file's first `prefix` bytes (equal to what was written). */
  private start(prefix: number): void {
    this.diverged = true;
    try {
      this.fd = openSync(`${this.file}.next`, 'w', 0o600);
      this.buffer = Buffer.allocUnsafe(IO_BUFFER);
      this.used = 0;
      // The equal prefix, copied as bytes (it was compared, not parsed).
      for (let done = 0; done < prefix; ) {
        const n = readSync(this.oldFd!, this.buffer, 0, Math.min(this.buffer.length, prefix - done), done);
        if (n <= 0) throw new Error('the file cache changed while in use');
        this.writeAt(this.buffer, n);
        done += n;
      }
    } catch (error) {
      this.failure = error;
    }
  }

  private appendAt = 0;

  private drain(): void {
    this.writeAt(this.buffer!, this.used);
    this.used = 0;
  }

  private writeAt(bytes: Buffer, length: number): void {
    let at = 0;
    while (at < length) {
      const n = writeSync(this.fd!, bytes, at, length - at, this.appendAt);
      at += n;
      this.appendAt += n;
    }
  }
}

/** Calls `each` with every record of the file, read 1 MiB at a time. */
function forEachRecord(fd: number, each: (record: Buffer, offset: number) => void): void {
  const head = Buffer.alloc(MAGIC.length);
  if (readSync(fd, head, 0, head.length, 0) !== head.length || !head.equals(MAGIC)) {
    throw new Error('not a file cache');
  }
  let buffer = Buffer.allocUnsafe(IO_BUFFER);
  let position = MAGIC.length;
  let have = 0;
  let start = 0;
  for (;;) {
    // Move what is left to the front and fill the rest.
    if (start > 0) {
      buffer.copy(buffer, 0, start, have);
      have -= start;
      position += start;
      start = 0;
    }
    const read = readSync(fd, buffer, have, buffer.length - have, position + have);
    have += read;
    let used = 0;
    while (have - used >= 4) {
      const length = buffer.readUInt32LE(used);
      if (length < FIXED) throw new Error('damaged file cache');
      if (length > buffer.length) {
        const bigger = Buffer.allocUnsafe(length * 2);
        buffer.copy(bigger, 0, 0, have);
        buffer = bigger;
        break;
      }
      if (have - used < length) break;
      each(buffer.subarray(used, used + length), position + used);
      used += length;
    }
    start = used;
    if (read === 0) {
      if (used !== have) throw new Error('damaged file cache');
      return;
    }
  }
}

/**
 * The hash table of the records under the roots; `keep` hears of every other record.
 * Checks every record's lengths, so a damaged file is refused here, not at a lookup.
 */
function buildTable(
  fd: number,
  under: (record: Buffer, from: number, to: number) => boolean,
  keep: (offset: number, length: number) => void,
): { table: Uint32Array; count: number } {
  let slots = 1024;
  let table = new Uint32Array(slots * 3);
  let count = 0;
  const place = (t: Uint32Array, hash: number, offset: number, length: number) => {
    const mask = t.length / 3 - 1;
    let slot = hash & mask;
    while (t[slot * 3 + 2] !== 0) slot = (slot + 1) & mask;
    t[slot * 3] = hash;
    t[slot * 3 + 1] = offset;
    t[slot * 3 + 2] = length;
  };
  forEachRecord(fd, (record, offset) => {
    const pathLength = record.readUInt16LE(4);
    if (FIXED + pathLength > record.length) throw new Error('damaged file cache');
    if (
      FIXED + pathLength + (record.readUInt32LE(6 + pathLength + FINGERPRINT) & COUNT) * 32 !==
      record.length
    ) {
      throw new Error('damaged file cache');
    }
    if (!under(record, 6, 6 + pathLength)) {
      keep(offset, record.length);
      return;
    }
    if ((count + 1) * 2 > slots) {
      const old = table;
      slots *= 2;
      table = new Uint32Array(slots * 3);
      for (let s = 0; s < old.length; s += 3) {
        if (old[s + 2] !== 0) place(table, old[s]!, old[s + 1]!, old[s + 2]!);
      }
    }
    place(table, fnv1a(record, 6, 6 + pathLength), offset, record.length);
    count++;
  });
  return { table, count };
}

function fnv1a(bytes: Buffer, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
