import { createSecretKey } from 'node:crypto';
import { compressBlob } from '../compress/compression.js';
import { encryptInto, OVERHEAD, type SecretKey } from '../crypto/cipher.js';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import { type BlobEntry, type BlobType, type IndexFile, keys, PACK_TRAILER_BYTES } from './format.js';
import { type Repository, sha256Hex } from './repository.js';

/** Headroom for a pack's header and trailer (about 200 bytes per blob; a data pack has ~20). */
const HEADER_ROOM = 64 * 1024;
/** Past the pack size, room for the last blob: the largest chunk, sealed. */
const MAX_BLOB_ROOM = 4 * 1024 * 1024 + 1024;

export interface PackEvents {
  onPackUploaded?(pack: { id: string; size: number; blobs: number }): void;
}

/**
 * Gathers encrypted blobs into packs of about `packSize` bytes and uploads each once full,
 * with at most `uploads` uploads in flight. Pack buffers come from a pool of at most
 * `uploads + 1` (one being filled, the others uploading; `buffers` sets fewer) that are reused pack after pack:
 * a blob that finds none free waits for an upload to end, so memory is bounded by design,
 * not by how fast the garbage collector frees dropped buffers. Blobs that are being packed
 * count as present, so a push never stores the same content twice.
 */
export class PackWriter {
  private blobs: BlobEntry[] = [];
  /** The pack being filled: blobs are copied in as they come, so no pack is ever copied whole. */
  private buffer: Buffer | undefined;
  /** Pool buffers whose upload is done, for the next packs (no 20 MiB allocation per pack). */
  private readonly free: Buffer[] = [];
  /** Pool buffers that exist (free, being filled or uploading): never more than `maxBuffers`. */
  private allocated = 0;
  private readonly maxBuffers: number;
  private readonly owned = new WeakSet<Buffer>();
  private bufferWaiters: Array<() => void> = [];
  private size = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown;
  private readonly pendingIds = new Set<string>();
  private cutting: Promise<void> | undefined;
  /** The buffer being taken for the next pack, shared by every blob that waits for it. */
  private acquiring: Promise<void> | undefined;
  /** Uploaded packs not yet handed to an index file (see takeWritten). */
  private written: IndexFile['packs'] = [];
  private writtenBlobs = 0;
  packsWritten = 0;
  bytesUploaded = 0;

  constructor(
    private readonly repo: Repository,
    private readonly uploads: number,
    private readonly events: PackEvents = {},
    options: { buffers?: number } = {},
  ) {
    // One being filled and one per upload; fewer (at least 1) makes blobs wait for uploads.
    this.maxBuffers = Math.max(1, options.buffers ?? Math.max(1, uploads) + 1);
  }

  /** Pack buffers allocated so far and still owned by the pool (at most `uploads + 1`). */
  get buffersAllocated(): number {
    return this.allocated;
  }

  private get bufferSize(): number {
    return this.repo.config.packSize + MAX_BLOB_ROOM + HEADER_ROOM;
  }

  /** A free pool buffer, a new one while fewer than `maxBuffers` exist, else the next one freed. */
  private async takeBuffer(): Promise<Buffer> {
    for (;;) {
      const free = this.free.pop();
      if (free) return free;
      if (this.allocated < this.maxBuffers) {
        this.allocated++;
        // allocUnsafe: pages are touched only as blobs are written into them.
        const buffer = Buffer.allocUnsafe(this.bufferSize);
        this.owned.add(buffer);
        return buffer;
      }
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => this.bufferWaiters.push(resolve));
    }
  }

  private releaseBuffer(buffer: Buffer): void {
    if (!this.owned.has(buffer)) return;
    // A buffer grown for an outsized blob is dropped; its slot is free for a normal one.
    if (buffer.length === this.bufferSize) this.free.push(buffer);
    else this.allocated--;
    const waiters = this.bufferWaiters;
    this.bufferWaiters = [];
    for (const wake of waiters) wake();
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
    // As repo.sealBlob, but encrypted straight into the pack: no sealed copy per blob.
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
   * Places a claimed blob, sealed as `repo.sealBlob` seals (`sealed` is copied into the
   * pack, so it may be a view into a larger buffer). Returns `rawLength`.
   */
  place(id: string, type: BlobType, sealed: Buffer, rawLength: number, compressed: boolean): Promise<number> {
    return this.put(id, type, sealed.length, rawLength, compressed, (out, at) => sealed.copy(out, at));
  }

  private async put(
    id: string,
    type: BlobType,
    length: number,
    rawLength: number,
    compressed: boolean,
    write: (out: Buffer, at: number) => number,
  ): Promise<number> {
    // Backpressure: while a full pack waits for an upload slot, new blobs wait too.
    // Without this, every concurrent caller could fill and hold a pack of its own
    // (measured: 340 MiB of buffers on a push to a slow S3 server).
    while (this.cutting || !this.buffer) {
      if (this.cutting) {
        await this.cutting;
        continue;
      }
      // One acquisition for every blob waiting: each taking a buffer of its own would leave
      // all but one waiting for a release that, with one buffer, only the next cut makes.
      this.acquiring ??= this.takeBuffer().then(
        (buffer) => {
          this.acquiring = undefined;
          if (this.buffer || this.cutting) this.releaseBuffer(buffer);
          else this.buffer = buffer;
        },
        (error: unknown) => {
          this.acquiring = undefined;
          throw error;
        },
      );
      await this.acquiring;
    }
    this.blobs.push({
      id,
      type,
      offset: this.size,
      length,
      rawLength,
      ...(compressed ? { compressed: true as const } : {}),
    });
    this.reserve(length);
    write(this.buffer!, this.size);
    this.size += length;
    if (this.size >= this.repo.config.packSize) {
      this.cutting = this.cut().finally(() => {
        this.cutting = undefined;
      });
      await this.cutting;
    }
    return rawLength;
  }

  /** Room for `more` bytes (plus the header and trailer that close a pack). */
  private reserve(more: number): void {
    const need = this.size + more + HEADER_ROOM;
    const current = this.buffer!;
    if (need <= current.length) return;
    // An outsized blob (a huge tree): this pack's buffer grows, in place of its pool buffer.
    const next = Buffer.allocUnsafe(need);
    current.copy(next, 0, 0, this.size);
    if (this.owned.has(current)) {
      this.owned.delete(current);
      this.owned.add(next);
    }
    this.buffer = next;
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
    if (this.blobs.length > 0) await this.cut();
    await Promise.all(this.inFlight);
    if (this.failure) throw this.failure;
  }

  private async cut(): Promise<void> {
    const blobs = this.blobs;
    const buffer = this.buffer ?? Buffer.alloc(0);
    const size = this.size;
    this.blobs = [];
    this.buffer = undefined;
    this.size = 0;
    let body: Buffer;
    let id: string;
    try {
      const header = await this.repo.sealMeta(JSON.stringify(blobs));
      const total = size + header.length + PACK_TRAILER_BYTES;
      if (total <= buffer.length) {
        header.copy(buffer, size);
        buffer.writeUInt32LE(header.length, size + header.length);
        body = buffer.subarray(0, total);
      } else {
        const trailer = Buffer.alloc(PACK_TRAILER_BYTES);
        trailer.writeUInt32LE(header.length);
        body = Buffer.concat([buffer.subarray(0, size), header, trailer]);
      }
      id = sha256Hex(body);
      while (this.inFlight.size >= this.uploads) await Promise.race(this.inFlight);
      if (this.failure) throw this.failure;
    } catch (error) {
      this.failure ??= error;
      this.releaseBuffer(buffer);
      throw error;
    }
    const upload = this.repo.backend
      .putIfAbsent(keys.pack(id), body)
      .then(() => {
        this.written.push({ id, size: body.length, blobs });
        this.writtenBlobs += blobs.length;
        this.packsWritten++;
        this.bytesUploaded += body.length;
        this.events.onPackUploaded?.({ id, size: body.length, blobs: blobs.length });
      })
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => {
        this.inFlight.delete(upload);
        // The upload is done with the buffer (backends copy what they keep).
        this.releaseBuffer(buffer);
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
        Number.isSafeInteger(e.offset) &&
        Number.isSafeInteger(e.length) &&
        e.offset! >= 0 &&
        e.length! >= 0 &&
        e.offset! + e.length! <= blobArea,
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
