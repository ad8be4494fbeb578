import type { TreeNode } from '../repository/format.js';
import type { LocatedBlob } from '../repository/master-index.js';

/** Needed bytes of a pack closer than this are one span (read through the gap: one request). */
export const SPAN_GAP = 4 * 1024 * 1024;

/**
 * A pack whose planned needs reach this share of its stored size is worth reading whole
 * before the walk ends (see EarlyReads): at most this many times the bytes it needs.
 */
export const EARLY_SHARE = 0.5;

/**
 * Told, while the walk still runs, of each pack that the files planned so far need at
 * least EARLY_SHARE of: the spool can start reading it whole (PackSpool.early) instead of
 * waiting for the walk to end, so the downloads overlap the walk (the walk alone keeps one
 * core busy; a pack's final needs are only known at its end, but lie inside the pack).
 */
export interface EarlyReads {
  /** The stored size of a pack (from the index), or undefined when unknown. */
  sizeOf(pack: string): number | undefined;
  /** A pack worth reading whole now (called once per pack). */
  start(pack: string, size: number): void;
}

/** The parts of a pack a restore needs, as byte ranges [start, end) of the pack. */
export interface PackNeeds {
  spans: Array<{ start: number; end: number }>;
  /** Chunk references of the planned files to this pack (each one used once). */
  refs: number;
  /** Spans' bytes. */
  bytes: number;
}

/**
 * Which parts of which packs a restore needs, learned by the counting walk before any file
 * is written (restic plans every file first for the same reason): with it, a pack's needed
 * bytes are read with one request per span, whatever the order the files ask for them in.
 * Held as a few ranges per pack, not a record per blob: small whatever the file count.
 */
export class PackPlan {
  private readonly packs = new Map<string, PackNeeds>();
  private readonly links = new Set<string>();
  /** Bytes planned per pack while early reads may still start (blob lengths, each reference). */
  private readonly planned = new Map<string, number>();
  /** Packs handed to `early` (or of unknown size): not counted any more. */
  private readonly told = new Set<string>();

  constructor(
    private readonly locate: (id: string) => LocatedBlob | undefined,
    private readonly early?: EarlyReads,
  ) {}

  /** A file the restore will write: its chunks' places (a hard link's second entry writes nothing). */
  addFile(node: TreeNode): void {
    if (node.hardlink !== undefined) {
      if (this.links.has(node.hardlink)) return;
      this.links.add(node.hardlink);
    }
    for (const id of node.chunks ?? []) {
      const blob = this.locate(id);
      if (blob) this.addBlob(blob);
    }
  }

  private addBlob(blob: LocatedBlob): void {
    let needs = this.packs.get(blob.pack);
    if (!needs) {
      needs = { spans: [], refs: 0, bytes: 0 };
      this.packs.set(blob.pack, needs);
    }
    needs.refs++;
    if (this.early && !this.told.has(blob.pack)) this.countEarly(blob);
    const start = blob.offset;
    const end = blob.offset + blob.length;
    // Files come in tree order, a pack's blobs mostly in order: the last span grows.
    const last = needs.spans.at(-1);
    if (last && start <= last.end + SPAN_GAP && end >= last.start - SPAN_GAP) {
      last.start = Math.min(last.start, start);
      last.end = Math.max(last.end, end);
    } else needs.spans.push({ start, end });
  }

  private countEarly(blob: LocatedBlob): void {
    const size = this.early!.sizeOf(blob.pack);
    const planned = (this.planned.get(blob.pack) ?? 0) + blob.length;
    // A size the index cannot have right (none, or short of this blob): never read early.
    const known = size !== undefined && size >= blob.offset + blob.length;
    if (!known || planned >= size * EARLY_SHARE) {
      this.told.add(blob.pack);
      this.planned.delete(blob.pack);
      if (known) this.early!.start(blob.pack, size);
    } else this.planned.set(blob.pack, planned);
  }

  /** Packs in the order the walk first needed them, each with its spans sorted and merged. */
  finish(): Map<string, PackNeeds> {
    for (const needs of this.packs.values()) {
      const sorted = needs.spans.sort((a, b) => a.start - b.start);
      const merged: PackNeeds['spans'] = [];
      for (const span of sorted) {
        const last = merged.at(-1);
        if (last && span.start <= last.end + SPAN_GAP) last.end = Math.max(last.end, span.end);
        else merged.push({ ...span });
      }
      needs.spans = merged;
      needs.bytes = merged.reduce((sum, s) => sum + (s.end - s.start), 0);
    }
    this.links.clear();
    this.planned.clear();
    return this.packs;
  }
}
