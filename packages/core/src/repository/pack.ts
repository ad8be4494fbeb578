import { createHash, createSecretKey, type Hash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { compressBlob } from '../compress/compression.js';
import { encryptInto, OVERHEAD, type SecretKey } from '../crypto/cipher.js';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import type { StagedObject } from '../storage/backend.js';
import { stageObject } from '../storage/stage-object.js';
import {
  type BlobEntry,
  type BlobType,
  type IndexFile,
  isBlobField,
  keys,
  PACK_TRAILER_BYTES,
} from './format.js';
import type { Repository } from './repository.js';

/** Blobs are gathered into a buffer this large before it is written to the staged pack. */
const WRITE_BUFFER_BYTES = 1024 * 1024;
/** Write buffers per writer: one being filled while the other is written. */
const WRITE_BUFFERS = 2;

/** The cache folder (RepoCache.file) where packs for a backend that cannot stage in place (S3) are written. */
export const PACK_STAGING_DIR = 'staging';

export interface PackEvents {
  onPackUploaded?(pack: { id: string; size: number; blobs: number }): void;
}

/** A pack being filled: its bytes go to a staged object (a temporary file), hashed in order. */
interface OpenPack {
  readonly staged: Promise<StagedObject>;
  readonly hash: Hash;
  readonly blobs: BlobEntry[];
  /** Writes issued to the staged object; none rejects (a failure is recorded instead). */
  readonly writes: Promise<void>[];
  size: number;
}

/**
 * Gathers encrypted blobs into packs of about `packSize` bytes and uploads each once full,
 * with at most `uploads` uploads in flight. No pack body is held in memory: a pack's bytes
 * go, through one of two small write buffers, to a staged object of the backend (a
 * temporary file in a local repository's `.tmp/`, linked into place when the pack is
 * complete; for S3 one in `scratchDir`, uploaded from the file), hashed as they go, so the
 * pack's id is known when its header is written. Memory is bounded by design: 2 MiB of
 * buffers per writer, whatever the pack size or the number of uploads in flight. Blobs
 * that are being packed count as present, so a push never stores the same content twice.
 */
export class PackWriter {
  /** The pack being filled (undefined between packs). */
  private pack: OpenPack | undefined;
  /** The write buffer being filled; its first byte is at `bufferStart` of the pack. */
  private buffer: Buffer | undefined;
  private bufferStart = 0;
  private bufferFill = 0;
  /** Write buffers whose write is done, for the next bytes. */
  private readonly free: Buffer[] = [];
  private allocated = 0;
  private bufferWaiters: Array<() => void> = [];
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown;
  private readonly pendingIds = new Set<string>();
  private cutting: Promise<void> | undefined;
  /** Uploaded packs not yet handed to an index file (see takeWritten). */
  private written: IndexFile['packs'] = [];
  private writtenBlobs = 0;
  private readonly scratchDir: string;
  packsWritten = 0;
  bytesUploaded = 0;

  constructor(
    private readonly repo: Repository,
    private readonly uploads: number,
    private readonly events: PackEvents = {},
    /** `scratchDir`: where a backend that stages outside its own storage (S3) keeps packs being written. */
    options: { scratchDir?: string } = {},
  ) {
    this.uploads = Math.max(1, uploads);
    this.scratchDir = options.scratchDir ?? path.join(tmpdir(), 'backupctl-staging');
  }

  /** Write buffers allocated so far (at most 2, whatever the number of uploads). */
  get buffersAllocated(): number {
    return this.allocated;
  }

  /** True when the blob is stored or on its way: callers skip it. */
  knows(id: string): boolean {
    return this.repo.index.has(id) || this.pendingIds.has(id);
  }

  /**
   * Adds a blob unless known. Returns the plaintext length added (0 when deduplicated).
   * The check and the reservation happen in one synchronous step, so two identical
   * chunks hashed concurrently are stored once.
   */
  async add(id: string, type: BlobType, plain: Uint8Array): Promise<number> {
    if (!this.claim(id)) return 0;
    // As repo.sealBlob, but encrypted straight into the write buffer: no sealed copy per blob.
    const packed = await compressBlob(plain, this.repo.compression);
    const body = packed ?? plain;
    this.key ??= createSecretKey(this.repo.master.encryption);
    const key = this.key;
    return this.put(id, type, body.byteLength + OVERHEAD, plain.byteLength, packed !== undefined, (out, at) =>
      encryptInto(key, body, out, at),
    );
  }

  private key: SecretKey | undefined;

  /**
   * The first half of `add` for a blob sealed elsewhere (a chunk worker): true when the
   * blob is unknown, and from then on it counts as present; the caller must then `place`
   * it (or fail the push).
   */
  claim(id: string): boolean {
    if (this.knows(id)) return false;
    this.pendingIds.add(id);
    return true;
  }

  /**
   * Places a claimed blob, sealed as `repo.sealBlob` seals (`sealed` may be a view into a
   * larger buffer; it is copied or written before this settles, so the caller may reuse
   * it then). Returns `rawLength`.
   */
  place(id: string, type: BlobType, sealed: Buffer, rawLength: number, compressed: boolean): Promise<number> {
    return this.put(
      id,
      type,
      sealed.length,
      rawLength,
      compressed,
      (out, at) => sealed.copy(out, at),
      sealed,
    );
  }

  private async put(
    id: string,
    type: BlobType,
    length: number,
    rawLength: number,
    compressed: boolean,
    write: (out: Buffer, at: number) => number,
    sealed?: Buffer,
  ): Promise<number> {
    const direct = length > WRITE_BUFFER_BYTES;
    for (;;) {
      if (this.failure) throw this.failure;
      // Backpressure: while a full pack waits for an upload slot, new blobs wait too.
      if (this.cutting) {
        await this.cutting;
        continue;
      }
      // A blob larger than a write buffer is written on its own.
      if (direct) break;
      if (this.buffer && this.bufferFill + length <= this.buffer.length) break;
      this.flushBuffer();
      const buffer = this.takeBuffer();
      if (buffer) {
        this.buffer = buffer;
        this.bufferStart = this.pack?.size ?? 0;
        this.bufferFill = 0;
        break;
      }
      // Both buffers are being written: wait for one (then look again, from the top).
      await new Promise<void>((resolve) => this.bufferWaiters.push(resolve));
    }
    // From here to the cut, synchronous: the blob's offset is where its bytes land.
    this.pack ??= this.openPack();
    const pack = this.pack;
    pack.blobs.push({
      id,
      type,
      offset: pack.size,
      length,
      rawLength,
      ...(compressed ? { compressed: true as const } : {}),
    });
    let writing: Promise<void> | undefined;
    if (direct) {
      this.flushBuffer();
      let bytes = sealed;
      if (!bytes) {
        bytes = Buffer.allocUnsafe(length);
        write(bytes, 0);
      }
      pack.hash.update(bytes);
      writing = this.writeAt(pack, bytes, pack.size);
    } else {
      write(this.buffer!, this.bufferFill);
      this.bufferFill += length;
    }
    pack.size += length;
    if (pack.size >= this.repo.config.packSize) this.startCut();
    // The caller's bytes are in use until written; the cut, once started, holds the next blobs.
    if (writing) await writing;
    if (this.cutting) await this.cutting;
    return rawLength;
  }

  private openPack(): OpenPack {
    const staged = stageObject(this.repo.backend, this.scratchDir);
    // A failure to open is recorded by the first write (every write waits for the open).
    staged.catch(() => undefined);
    return { staged, hash: createHash('sha256'), blobs: [], writes: [], size: 0 };
  }

  /** A free write buffer, a new one while fewer than WRITE_BUFFERS exist, else undefined. */
  private takeBuffer(): Buffer | undefined {
    const free = this.free.pop();
    if (free) return free;
    if (this.allocated >= WRITE_BUFFERS) return undefined;
    this.allocated++;
    return Buffer.allocUnsafe(WRITE_BUFFER_BYTES);
  }

  private releaseBuffer(buffer: Buffer): void {
    this.free.push(buffer);
    const waiters = this.bufferWaiters;
    this.bufferWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Hashes the write buffer's bytes and writes them to the pack; the buffer is free once written. */
  private flushBuffer(): void {
    const buffer = this.buffer;
    if (!buffer) return;
    this.buffer = undefined;
    if (this.bufferFill === 0 || !this.pack) {
      this.releaseBuffer(buffer);
      return;
    }
    const bytes = buffer.subarray(0, this.bufferFill);
    this.pack.hash.update(bytes);
    this.writeAt(this.pack, bytes, this.bufferStart).then(
      () => this.releaseBuffer(buffer),
      () => this.releaseBuffer(buffer),
    );
  }

  /** Writes `bytes` at `position` of the pack: the returned promise may reject, the tracked one never. */
  private writeAt(pack: OpenPack, bytes: Uint8Array, position: number): Promise<void> {
    const writing = pack.staged.then((staged) => staged.write(bytes, position));
    pack.writes.push(
      writing.catch((error: unknown) => {
        this.failure ??= error;
      }),
    );
    return writing;
  }

  private startCut(): Promise<void> {
    const cutting = this.cut().finally(() => {
      if (this.cutting === cutting) this.cutting = undefined;
    });
    this.cutting = cutting;
    return cutting;
  }

  /** Blobs in uploaded packs not yet taken: what the next index file would hold. */
  get untakenBlobs(): number {
    return this.writtenBlobs;
  }

  /**
   * Blobs an index file now lists (saveIndex added them to the repository's index): no
   * longer tracked here, so what a push holds for dedup does not grow with its new blobs.
   */
  indexed(packs: IndexFile['packs']): void {
    for (const pack of packs) for (const blob of pack.blobs) this.pendingIds.delete(blob.id);
  }

  /** The uploaded packs since the last call, for an index file. */
  takeWritten(): IndexFile['packs'] {
    const out = this.written;
    this.written = [];
    this.writtenBlobs = 0;
    return out;
  }

  /** Uploads what is pending and waits for every upload. */
  async flush(): Promise<void> {
    while (this.cutting) await this.cutting;
    if (this.pack) await this.startCut();
    await Promise.all(this.inFlight);
    if (this.failure) throw this.failure;
  }

  /**
   * The push failed: drops the pack being filled (its temporary file) and takes no more
   * blobs. Uploads in flight end on their own, each removing its temporary file.
   */
  async abandon(): Promise<void> {
    this.failure ??= new Error('the pack writer was abandoned');
    const pack = this.pack;
    this.pack = undefined;
    this.buffer = undefined;
    if (!pack) return;
    await Promise.all(pack.writes);
    await pack.staged.then(
      (staged) => staged.discard(),
      () => undefined,
    );
  }

  private async cut(): Promise<void> {
    const pack = this.pack;
    if (!pack) return;
    this.flushBuffer();
    this.pack = undefined;
    let staged: StagedObject;
    let id: string;
    let size: number;
    try {
      const header = await this.repo.sealMeta(JSON.stringify(pack.blobs));
      const tail = Buffer.allocUnsafe(header.length + PACK_TRAILER_BYTES);
      header.copy(tail, 0);
      tail.writeUInt32LE(header.length, header.length);
      pack.hash.update(tail);
      void this.writeAt(pack, tail, pack.size).catch(() => undefined);
      size = pack.size + tail.length;
      await Promise.all(pack.writes);
      if (this.failure) throw this.failure;
      id = pack.hash.digest('hex');
      staged = await pack.staged;
      while (this.inFlight.size >= this.uploads) await Promise.race(this.inFlight);
      if (this.failure) throw this.failure;
    } catch (error) {
      this.failure ??= error;
      await pack.staged.then(
        (s) => s.discard(),
        () => undefined,
      );
      throw error;
    }
    const blobs = pack.blobs;
    const upload = staged
      .publish(keys.pack(id), size, id)
      .then(() => {
        this.written.push({ id, size, blobs });
        this.writtenBlobs += blobs.length;
        this.packsWritten++;
        this.bytesUploaded += size;
        this.events.onPackUploaded?.({ id, size, blobs: blobs.length });
      })
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => {
        this.inFlight.delete(upload);
      });
    this.inFlight.add(upload);
  }
}

/** Reads a pack's own header: how a pack that no index lists yet is recovered. */
export async function readPackHeader(repo: Repository, packId: string, size: number): Promise<BlobEntry[]> {
  const key = keys.pack(packId);
  if (size < PACK_TRAILER_BYTES) throw damaged(packId, 'too short');
  const trailer = await repo.backend.get(key, {
    offset: size - PACK_TRAILER_BYTES,
    length: PACK_TRAILER_BYTES,
  });
  if (trailer.length < PACK_TRAILER_BYTES) throw damaged(packId, 'cut short');
  const headerLength = trailer.readUInt32LE(0);
  if (headerLength + PACK_TRAILER_BYTES > size) throw damaged(packId, 'header length out of range');
  const sealed = await repo.backend.get(key, {
    offset: size - PACK_TRAILER_BYTES - headerLength,
    length: headerLength,
  });
  return parseHeader(
    packId,
    await repo.openMeta(sealed, `header of pack ${packId}`),
    size - PACK_TRAILER_BYTES - headerLength,
  );
}

/** Parses a whole pack held in memory; used by `check --read-data`. */
export async function parsePack(repo: Repository, packId: string, body: Buffer): Promise<BlobEntry[]> {
  if (body.length < PACK_TRAILER_BYTES) throw damaged(packId, 'too short');
  const headerLength = body.readUInt32LE(body.length - PACK_TRAILER_BYTES);
  const start = body.length - PACK_TRAILER_BYTES - headerLength;
  if (start < 0) throw damaged(packId, 'header length out of range');
  const plain = await repo.openMeta(
    body.subarray(start, body.length - PACK_TRAILER_BYTES),
    `header of pack ${packId}`,
  );
  return parseHeader(packId, plain, start);
}

/** A decrypted header: every entry well-formed and inside the blob area. */
function parseHeader(packId: string, plain: string, blobArea: number): BlobEntry[] {
  let entries: unknown;
  try {
    entries = JSON.parse(plain);
  } catch {
    throw damaged(packId, 'its header is not valid JSON');
  }
  if (
    !Array.isArray(entries) ||
    !entries.every(
      (e: Partial<BlobEntry>) =>
        typeof e?.id === 'string' &&
        (e.type === 'data' || e.type === 'tree') &&
        isBlobField(e.offset) &&
        isBlobField(e.length) &&
        isBlobField(e.rawLength) &&
        e.offset + e.length <= blobArea,
    )
  ) {
    throw damaged(packId, 'its header is malformed');
  }
  return entries as BlobEntry[];
}

function damaged(packId: string, why: string): BackupctlError {
  return new BackupctlError(ErrorCodes.integrity, `pack ${packId} is damaged: ${why}`, {
    source: 'environment',
  });
}
