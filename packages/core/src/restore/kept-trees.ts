/** Bytes of one piece: the kept trees are copied into pieces of this size, never one large buffer. */
export const KEPT_PIECE_BYTES = 1024 * 1024;

/** Where one kept tree's plain bytes are, and how many reads it still has coming. */
interface Kept {
  piece: Piece;
  offset: number;
  length: number;
  refs: number;
}

interface Piece {
  bytes: Buffer;
  used: number;
  /** Trees in this piece still to be taken: at 0 (and full) the piece goes. */
  live: number;
}

/**
 * The plain bytes (decrypted, decompressed, checked) of the trees the counting walk read,
 * kept for the restore walk, which reads the same trees in the same order: each tree is
 * then opened once, not twice (a decryption, a native zstd call and an HMAC per folder).
 * Bounded by `budget` bytes, all or nothing: when the trees do not all fit, none is kept
 * and the restore walk reads them again, as without. A tree is kept once and counted per
 * reference (a folder that appears twice in a snapshot has one tree); a piece is let go as
 * soon as the restore walk has taken every tree in it, so what is kept shrinks as it goes.
 */
export class KeptTrees {
  private readonly trees = new Map<string, Kept>();
  private current: Piece | undefined;
  private held = 0;
  /** The trees did not fit: none is kept (the restore walk reads them again). */
  overflowed = false;

  constructor(private readonly budget: number) {}

  /** Bytes of pieces held now. */
  get heldBytes(): number {
    return this.held;
  }

  /** Trees kept and not yet taken by every reference. */
  get size(): number {
    return this.trees.size;
  }

  /** One more reference to a kept tree: its bytes, or undefined when it is not kept. */
  addRef(id: string): Buffer | undefined {
    const kept = this.trees.get(id);
    if (!kept) return undefined;
    kept.refs++;
    return kept.piece.bytes.subarray(kept.offset, kept.offset + kept.length);
  }

  /**
   * Keeps a copy of `plain` for one later `take(id)`; false when the budget has no room.
   * Then nothing is kept any more, and what was is let go: a walk whose trees do not all
   * fit would keep only its first ones, a few percent of its reads saved for up to the
   * budget more memory while the restore's pipeline fills (the 1M-file restore's peak).
   */
  keep(id: string, plain: Uint8Array): boolean {
    if (this.overflowed) return false;
    if (this.addRef(id)) return true;
    const piece = this.room(plain.length);
    if (!piece) {
      this.overflowed = true;
      this.trees.clear();
      this.current = undefined;
      this.held = 0;
      return false;
    }
    piece.bytes.set(plain, piece.used);
    this.trees.set(id, { piece, offset: piece.used, length: plain.length, refs: 1 });
    piece.used += plain.length;
    piece.live++;
    return true;
  }

  /**
   * A kept tree's plain bytes, for one reference; undefined when it was not kept. The bytes
   * are a view of a piece: valid until the caller's next turn (decode them at once).
   */
  take(id: string): Buffer | undefined {
    const kept = this.trees.get(id);
    if (!kept) return undefined;
    const bytes = kept.piece.bytes.subarray(kept.offset, kept.offset + kept.length);
    if (--kept.refs === 0) {
      this.trees.delete(id);
      this.release(kept.piece);
    }
    return bytes;
  }

  /** A piece with room for `length` more bytes within the budget, or undefined. */
  private room(length: number): Piece | undefined {
    const current = this.current;
    if (current && current.bytes.length - current.used >= length) return current;
    const size = Math.max(KEPT_PIECE_BYTES, length);
    if (this.held + size > this.budget) return undefined;
    // The piece before (full enough) is let go once its trees are all taken (release).
    const piece: Piece = { bytes: Buffer.allocUnsafeSlow(size), used: 0, live: 0 };
    this.held += size;
    this.current = piece;
    return piece;
  }

  private release(piece: Piece): void {
    if (--piece.live > 0) return;
    // Nothing refers to it now (a later tree goes into a new piece).
    if (piece === this.current) this.current = undefined;
    this.held -= piece.bytes.length;
  }
}
