import { closeSync, promises as fs, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import path from 'node:path';

/** What identifies an unchanged file without reading it. */
export interface FileFingerprint {
  size: number;
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
}

const MAGIC = Buffer.from('BKFC2\n');
/** u32 length | u16 path length | path | u64 size | i64 mtimeNs | i64 ctimeNs | u64 ino | u32 n | n × 32-byte ids */
const FIXED = 4 + 2 + 8 * 4 + 4;
const IO_BUFFER = 1024 * 1024;
const MAX_FILE = 0xffff_ffff;

/**
 * path + size + mtime + ctime + inode → chunk ids, from the last push. A hit lets an
 * unchanged file be re-pushed without reading it. ctime catches edits that restore the
 * mtime; the inode catches a file replaced by another. Losing it costs a re-read.
 *
 * Memory does not grow with what the file holds: the previous push's records stay on disk
 * (`files.bin`, binary, in walk order), and only a hash table of (path hash, offset, length)
 * — 24 bytes a file — is in memory; a lookup reads its one record (page cache) and compares
 * the path itself, so a hash collision never gives a wrong answer. This push's records are
 * streamed to `files.bin.next`, which `save` renames over the old file.
 */
export class FileCache {
  private table: Uint32Array;
  private readonly out: RecordWriter;

  private constructor(
    private readonly file: string,
    private readonly fd: number | undefined,
    entries: Array<[number, number, number]> | Uint32Array,
    count: number,
  ) {
    this.table = entries instanceof Uint32Array ? entries : new Uint32Array(3);
    this.count = count;
    this.out = new RecordWriter(`${file}.next`);
  }

  private count: number;
  private saved = false;

  static async load(file: string): Promise<FileCache> {
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    // The JSON cache of earlier versions is dropped: one full read, once.
    await fs.rm(path.join(path.dirname(file), 'files.json'), { force: true });
    let fd: number | undefined;
    try {
      fd = openSync(file, 'r');
      const { table, count } = buildTable(fd);
      return new FileCache(file, fd, table, count);
    } catch {
      if (fd !== undefined) closeSync(fd);
      // missing, damaged or too large: start empty
      return new FileCache(file, undefined, [], 0);
    }
  }

  lookup(filePath: string, now: FileFingerprint): string[] | undefined {
    if (this.fd === undefined || this.count === 0) return undefined;
    const wanted = Buffer.from(filePath);
    const hash = fnv1a(wanted, 0, wanted.length);
    const slots = this.table.length / 3;
    const mask = slots - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const length = this.table[slot * 3 + 2]!;
      if (length === 0) return undefined;
      if (this.table[slot * 3] !== hash) continue;
      const record = Buffer.allocUnsafe(length);
      readSync(this.fd, record, 0, length, this.table[slot * 3 + 1]!);
      const parsed = parseRecord(record);
      if (!parsed.path.equals(wanted)) continue;
      const hit = parsed.fingerprint;
      if (
        hit.size === now.size &&
        hit.mtimeNs === now.mtimeNs &&
        hit.ctimeNs === now.ctimeNs &&
        hit.ino === now.ino
      ) {
        return parsed.chunks;
      }
      return undefined;
    }
  }

  record(filePath: string, fingerprint: FileFingerprint, chunks: string[]): void {
    this.out.write(encodeRecord(Buffer.from(filePath), fingerprint, chunks));
  }

  /**
   * Saves this push's entries plus the previous entries outside the pushed roots (a push
   * of other paths must not forget them), streaming the old file once.
   */
  async save(roots: string[]): Promise<void> {
    const under = (p: string) => roots.some((r) => p === r || p.startsWith(r.endsWith('/') ? r : `${r}/`));
    this.saved = true;
    if (this.fd !== undefined) {
      forEachRecord(this.fd, (record) => {
        const pathLength = record.readUInt16LE(4);
        if (!under(record.toString('utf8', 6, 6 + pathLength))) this.out.write(record);
      });
      closeSync(this.fd);
    }
    this.out.close();
    await fs.rename(`${this.file}.next`, this.file);
  }

  /** Closes both files without saving (a push that failed keeps the previous cache). */
  discard(): void {
    if (this.saved) return;
    this.saved = true;
    if (this.fd !== undefined) closeSync(this.fd);
    this.out.close();
  }
}

class RecordWriter {
  private readonly fd: number;
  private buffer = Buffer.allocUnsafe(IO_BUFFER);
  private used = 0;

  constructor(file: string) {
    this.fd = openSync(file, 'w', 0o600);
    this.write(MAGIC);
  }

  write(bytes: Buffer): void {
    if (this.used + bytes.length > this.buffer.length) this.drain();
    if (bytes.length > this.buffer.length) {
      writeSync(this.fd, bytes);
      return;
    }
    bytes.copy(this.buffer, this.used);
    this.used += bytes.length;
  }

  private closed = false;

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.drain();
    fsyncSync(this.fd);
    closeSync(this.fd);
  }

  private drain(): void {
    let at = 0;
    while (at < this.used) at += writeSync(this.fd, this.buffer, at, this.used - at);
    this.used = 0;
  }
}

function encodeRecord(filePath: Buffer, f: FileFingerprint, chunks: string[]): Buffer {
  const length = FIXED + filePath.length + chunks.length * 32;
  const out = Buffer.allocUnsafe(length);
  out.writeUInt32LE(length, 0);
  out.writeUInt16LE(filePath.length, 4);
  filePath.copy(out, 6);
  let at = 6 + filePath.length;
  out.writeBigUInt64LE(BigInt(f.size), at);
  out.writeBigInt64LE(BigInt(f.mtimeNs), at + 8);
  out.writeBigInt64LE(BigInt(f.ctimeNs), at + 16);
  out.writeBigUInt64LE(BigInt(f.ino), at + 24);
  out.writeUInt32LE(chunks.length, at + 32);
  at += 36;
  for (const id of chunks) at += out.write(id, at, 32, 'hex');
  return out;
}

function parseRecord(record: Buffer): { path: Buffer; fingerprint: FileFingerprint; chunks: string[] } {
  const pathLength = record.readUInt16LE(4);
  let at = 6 + pathLength;
  const fingerprint: FileFingerprint = {
    size: Number(record.readBigUInt64LE(at)),
    mtimeNs: record.readBigInt64LE(at + 8).toString(),
    ctimeNs: record.readBigInt64LE(at + 16).toString(),
    ino: record.readBigUInt64LE(at + 24).toString(),
  };
  const n = record.readUInt32LE(at + 32);
  at += 36;
  const chunks: string[] = [];
  for (let i = 0; i < n; i++, at += 32) chunks.push(record.toString('hex', at, at + 32));
  return { path: record.subarray(6, 6 + pathLength), fingerprint, chunks };
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

function buildTable(fd: number): { table: Uint32Array; count: number } {
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
    if (offset + record.length > MAX_FILE) throw new Error('file cache too large');
    if ((count + 1) * 2 > slots) {
      const old = table;
      slots *= 2;
      table = new Uint32Array(slots * 3);
      for (let s = 0; s < old.length; s += 3) {
        if (old[s + 2] !== 0) place(table, old[s]!, old[s + 1]!, old[s + 2]!);
      }
    }
    place(table, fnv1a(record, 6, 6 + record.readUInt16LE(4)), offset, record.length);
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
