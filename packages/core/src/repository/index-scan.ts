/**
 * Reads an index file's JSON bytes straight into the master index, for the one shape
 * backupctl writes (`JSON.stringify` of an IndexFile: keys in saveIndex's and PackWriter's
 * order, no spaces, lowercase hex ids, integers). JSON.parse of a 50,000-blob index file
 * makes a 7 MB string and 50,000 objects with a 64-character id each, ~20 MB of heap per
 * file that a million-blob re-push loaded 20 times over (its peak: docs/benchmarks.md,
 * "Push memory, 2026-12-02"); this reads the bytes where they are and makes nothing per blob.
 *
 * Anything else (another writer's key order, whitespace, a missing field, a number that is
 * not a plain integer or too large for a blob: isBlobField) makes `scanIndex` answer false
 * before it has called `sink` once, and the caller parses the file as before (JSON.parse,
 * isIndexFile): the scan is a fast path, never a second definition of what an index file
 * may be.
 */

import { isBlobField } from './format.js';

export interface IndexSink {
  pack(id: string, size: number): void;
  /** `id`: a 32-byte scratch buffer, valid until the next call. */
  blob(
    id: Buffer,
    type: 'data' | 'tree',
    offset: number,
    length: number,
    rawLength: number,
    compressed: boolean,
  ): void;
  endPack(): void;
}

const NO_SINK: IndexSink = { pack() {}, blob() {}, endPack() {} };

/**
 * Checks the whole file first, then reads it into `sink`: a file that turns out not to be in
 * the canonical shape halfway leaves nothing half-added.
 */
export function scanIndex(bytes: Uint8Array, sink: IndexSink): boolean {
  if (!new Scanner(bytes, NO_SINK).file()) return false;
  return new Scanner(bytes, sink).file();
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const FILE_START = ascii('{"version":');
const PACKS = ascii(',"packs":[');
const PACK_ID = ascii('{"id":"');
const PACK_SIZE = ascii('","size":');
const BLOBS = ascii(',"blobs":[');
const BLOB_ID = ascii('{"id":"');
const TYPE_DATA = ascii('","type":"data","offset":');
const TYPE_TREE = ascii('","type":"tree","offset":');
const LENGTH = ascii(',"length":');
const RAW_LENGTH = ascii(',"rawLength":');
const COMPRESSED = ascii(',"compressed":true');

class Scanner {
  private at = 0;
  private readonly id = Buffer.alloc(32);

  constructor(
    private readonly b: Uint8Array,
    private readonly sink: IndexSink,
  ) {}

  file(): boolean {
    if (!this.literal(FILE_START) || this.integer() < 0 || !this.literal(PACKS)) return false;
    if (this.b[this.at] === CLOSE_BRACKET) this.at++;
    else {
      for (;;) {
        if (!this.pack()) return false;
        const next = this.b[this.at++];
        if (next === CLOSE_BRACKET) break;
        if (next !== COMMA) return false;
      }
    }
    if (this.b[this.at++] !== CLOSE_BRACE) return false;
    // Trailing whitespace is JSON; anything else is not (JSON.parse says so on the slow path).
    while (this.at < this.b.length) {
      const c = this.b[this.at++];
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return false;
    }
    return true;
  }

  private pack(): boolean {
    if (!this.literal(PACK_ID)) return false;
    const idAt = this.at;
    if (!this.hexId()) return false;
    if (!this.literal(PACK_SIZE)) return false;
    const size = this.integer();
    if (size < 0 || !this.literal(BLOBS)) return false;
    this.sink.pack(Buffer.from(this.b.buffer, this.b.byteOffset + idAt, 64).toString('latin1'), size);
    if (this.b[this.at] === CLOSE_BRACKET) this.at++;
    else {
      for (;;) {
        if (!this.blob()) return false;
        const next = this.b[this.at++];
        if (next === CLOSE_BRACKET) break;
        if (next !== COMMA) return false;
      }
    }
    if (this.b[this.at++] !== CLOSE_BRACE) return false;
    this.sink.endPack();
    return true;
  }

  private blob(): boolean {
    if (!this.literal(BLOB_ID) || !this.hexId()) return false;
    let type: 'data' | 'tree';
    if (this.literal(TYPE_DATA)) type = 'data';
    else if (this.literal(TYPE_TREE)) type = 'tree';
    else return false;
    const offset = this.integer();
    if (!isBlobField(offset) || !this.literal(LENGTH)) return false;
    const length = this.integer();
    if (!isBlobField(length) || !this.literal(RAW_LENGTH)) return false;
    const rawLength = this.integer();
    if (!isBlobField(rawLength)) return false;
    const compressed = this.literal(COMPRESSED);
    if (this.b[this.at++] !== CLOSE_BRACE) return false;
    this.sink.blob(this.id, type, offset, length, rawLength, compressed);
    return true;
  }

  /** `text` at the cursor: consumed, or nothing consumed. */
  private literal(text: Uint8Array): boolean {
    const b = this.b;
    const at = this.at;
    if (at + text.length > b.length) return false;
    for (let i = 0; i < text.length; i++) if (b[at + i] !== text[i]) return false;
    this.at = at + text.length;
    return true;
  }

  /** A plain non-negative integer (no sign, fraction, exponent or leading zero), or -1. */
  private integer(): number {
    const b = this.b;
    const start = this.at;
    let value = 0;
    while (this.at < b.length) {
      const digit = b[this.at]! - 0x30;
      if (digit < 0 || digit > 9) break;
      value = value * 10 + digit;
      this.at++;
    }
    const digits = this.at - start;
    if (digits === 0 || digits > 15 || (digits > 1 && b[start] === 0x30)) return -1;
    return value;
  }

  /** 64 lowercase hex digits and the closing quote's place: into `this.id`. */
  private hexId(): boolean {
    const b = this.b;
    const at = this.at;
    if (at + 64 >= b.length || b[at + 64] !== QUOTE) return false;
    for (let i = 0; i < 32; i++) {
      const hi = nibble(b[at + 2 * i]!);
      const lo = nibble(b[at + 2 * i + 1]!);
      if (hi < 0 || lo < 0) return false;
      this.id[i] = (hi << 4) | lo;
    }
    this.at = at + 64;
    return true;
  }
}

function nibble(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}
