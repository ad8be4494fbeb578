import type { BlobEntry, IndexFile } from './format.js';
import { scanIndex } from './index-scan.js';

export type LocatedBlob = BlobEntry & { pack: string };

/** id 32 | pack u32 | offset u32 | length u32 | rawLength u32 | flags u32 */
const RECORD = 52;
/** Records per slab (about 850 KB): the records grow a slab at a time, never copied. */
const SLAB_SHIFT = 14;
const SLAB_RECORDS = 1 << SLAB_SHIFT;
const FLAG_TREE = 1;
const FLAG_COMPRESSED = 2;

/**
 * Every blob the repository holds, by id, merged from all index files.
 *
 * Held compactly, because a home folder has millions of blobs: one 52-byte record per blob
 * in slabs of 16,384 records (the 32-byte id in binary; growing adds a slab, so there is
 * no copy and no doubling: a million blobs take 52 MB, not up to twice that while the
 * buffer is copied into one twice as large) and an open-addressing hash table of
 * record numbers (a Uint32Array; ids are keyed hashes, so their first bytes are already
 * uniform). About 60 bytes per blob, where a Map of objects took ~300, and nothing for the
 * garbage collector to trace. Objects are made only for the blobs asked for.
 */
export class MasterIndex {
  private readonly slabs: Buffer[] = [];
  private count = 0;
  private table = new Uint32Array(2048);
  private readonly packList: string[] = [];
  private readonly packSizes: number[] = [];
  private readonly packNumbers = new Map<string, number>();
  /** Tree-only packs → their record numbers (trees are few: one per folder). */
  private readonly treePacks = new Map<number, number[]>();

  add(file: IndexFile): void {
    for (const pack of file.packs) {
      this.startPack(pack.id, pack.size);
      for (const blob of pack.blobs) {
        // A reused buffer: a million blobs are a million ids to parse, no Buffer each.
        const id = this.scratch;
        if (blob.id.length !== 64 || id.write(blob.id, 'hex') !== 32) {
          throw new RangeError(`blob id ${blob.id} is not 32 bytes of hex`);
        }
        this.addBlob(id, blob.type, blob.offset, blob.length, blob.rawLength, Boolean(blob.compressed));
      }
      this.endPack();
    }
  }

  /**
   * Reads an index file's JSON bytes straight in (index-scan.ts), leaving out the packs of
   * `exclude`; false (and nothing added) when they are not in the shape backupctl writes.
   */
  addJson(bytes: Uint8Array, exclude?: ReadonlySet<string>): boolean {
    let skip = false;
    return scanIndex(bytes, {
      pack: (id, size) => {
        skip = exclude?.has(id) === true;
        if (!skip) this.startPack(id, size);
      },
      blob: (id, type, offset, length, rawLength, compressed) => {
        if (!skip) this.addBlob(id, type, offset, length, rawLength, compressed);
      },
      endPack: () => {
        if (!skip) this.endPack();
      },
    });
  }

  /** The pack blobs are being added to (startPack … endPack). */
  private current = { packNo: 0, blobs: 0, onlyTrees: true, treeRecords: [] as number[] };

  private startPack(id: string, size: number): void {
    let packNo = this.packNumbers.get(id);
    if (packNo === undefined) {
      packNo = this.packList.length;
      this.packList.push(id);
      this.packSizes.push(size);
      this.packNumbers.set(id, packNo);
    }
    this.current = { packNo, blobs: 0, onlyTrees: true, treeRecords: [] };
  }

  private addBlob(
    id: Buffer,
    type: BlobEntry['type'],
    offset: number,
    length: number,
    rawLength: number,
    compressed: boolean,
  ): void {
    const pack = this.current;
    let record = this.find(id);
    if (record < 0) record = this.insert(id, pack.packNo, type, offset, length, rawLength, compressed);
    pack.blobs++;
    if (type !== 'tree') pack.onlyTrees = false;
    // Tree records are kept only while the pack may still hold only trees.
    else if (pack.onlyTrees) pack.treeRecords.push(record);
  }

  private endPack(): void {
    const pack = this.current;
    if (pack.blobs > 0 && pack.onlyTrees) this.treePacks.set(pack.packNo, pack.treeRecords);
  }

  has(id: string): boolean {
    // A reused buffer: a re-push asks once per chunk of every unchanged file.
    if (id.length !== 64 || this.scratch.write(id, 'hex') !== 32) return false;
    return this.find(this.scratch) >= 0;
  }

  private readonly scratch = Buffer.alloc(32);

  get(id: string): LocatedBlob | undefined {
    // The reused buffer, as `has`: a restore asks once per chunk of every file it writes.
    if (id.length !== 64 || this.scratch.write(id, 'hex') !== 32) return undefined;
    const record = this.find(this.scratch);
    // The id asked for is the record's, in its text form when it is lowercase (no copy).
    return record < 0 ? undefined : this.entry(record, id === id.toLowerCase() ? id : undefined);
  }

  /** The blobs of a pack that holds only trees, or undefined for any other pack. */
  treePack(id: string): LocatedBlob[] | undefined {
    const packNo = this.packNumbers.get(id);
    const records = packNo === undefined ? undefined : this.treePacks.get(packNo);
    return records?.map((r) => this.entry(r));
  }

  hasPack(id: string): boolean {
    return this.packNumbers.has(id);
  }

  /** A pack's stored size, as its index file gives it; undefined for a pack not indexed. */
  packSize(id: string): number | undefined {
    const packNo = this.packNumbers.get(id);
    return packNo === undefined ? undefined : this.packSizes[packNo];
  }

  *packIds(): IterableIterator<[string, number]> {
    for (let i = 0; i < this.packList.length; i++) yield [this.packList[i]!, this.packSizes[i]!];
  }

  *allBlobs(): IterableIterator<LocatedBlob> {
    for (let record = 0; record < this.count; record++) yield this.entry(record);
  }

  get blobCount(): number {
    return this.count;
  }

  get packCount(): number {
    return this.packList.length;
  }

  /** A record as an object; `hex`: its id as text, when the caller has it. */
  private entry(record: number, hex?: string): LocatedBlob {
    const r = this.slabs[record >>> SLAB_SHIFT]!;
    const at = (record & (SLAB_RECORDS - 1)) * RECORD;
    const flags = r.readUInt32LE(at + 48);
    return {
      id: hex ?? r.toString('hex', at, at + 32),
      type: flags & FLAG_TREE ? 'tree' : 'data',
      offset: r.readUInt32LE(at + 36),
      length: r.readUInt32LE(at + 40),
      rawLength: r.readUInt32LE(at + 44),
      ...(flags & FLAG_COMPRESSED ? { compressed: true as const } : {}),
      pack: this.packList[r.readUInt32LE(at + 32)]!,
    };
  }

  /** The record number of `id`, or -1. */
  private find(id: Buffer): number {
    if (id.length !== 32) return -1;
    const mask = this.table.length - 1;
    for (let slot = id.readUInt32LE(0) & mask; ; slot = (slot + 1) & mask) {
      const value = this.table[slot]!;
      if (value === 0) return -1;
      const record = value - 1;
      const slab = this.slabs[record >>> SLAB_SHIFT]!;
      const at = (record & (SLAB_RECORDS - 1)) * RECORD;
      if (sameId(slab, at, id)) return record;
    }
  }

  private insert(
    id: Buffer,
    packNo: number,
    type: BlobEntry['type'],
    offset: number,
    length: number,
    rawLength: number,
    compressed: boolean,
  ): number {
    if (id.length !== 32) throw new RangeError(`blob id ${id.toString('hex')} is not 32 bytes`);
    const record = this.count;
    if (record >>> SLAB_SHIFT === this.slabs.length) this.slabs.push(Buffer.alloc(RECORD * SLAB_RECORDS));
    this.count++;
    const slab = this.slabs[record >>> SLAB_SHIFT]!;
    const at = (record & (SLAB_RECORDS - 1)) * RECORD;
    id.copy(slab, at);
    slab.writeUInt32LE(packNo, at + 32);
    slab.writeUInt32LE(offset, at + 36);
    slab.writeUInt32LE(length, at + 40);
    slab.writeUInt32LE(rawLength, at + 44);
    slab.writeUInt32LE((type === 'tree' ? FLAG_TREE : 0) | (compressed ? FLAG_COMPRESSED : 0), at + 48);
    if (this.count * 2 > this.table.length) this.rehash(this.table.length * 2);
    else this.place(record);
    return record;
  }

  private place(record: number): void {
    const mask = this.table.length - 1;
    const slab = this.slabs[record >>> SLAB_SHIFT]!;
    let slot = slab.readUInt32LE((record & (SLAB_RECORDS - 1)) * RECORD) & mask;
    while (this.table[slot] !== 0) slot = (slot + 1) & mask;
    this.table[slot] = record + 1;
  }

  private rehash(size: number): void {
    this.table = new Uint32Array(size);
    for (let r = 0; r < this.count; r++) this.place(r);
  }
}

/** The 32-byte id at `at` of `slab` is `id` (a loop: cheaper than compare's checks). */
function sameId(slab: Buffer, at: number, id: Buffer): boolean {
  for (let i = 0; i < 32; i++) if (slab[at + i] !== id[i]) return false;
  return true;
}
