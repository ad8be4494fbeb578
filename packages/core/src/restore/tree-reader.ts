import { keys, type Tree } from '../repository/format.js';
import { decodeTree, type Repository } from '../repository/repository.js';
import type { KeptTrees } from './kept-trees.js';

/** What a walk reads its trees from. */
export interface TreeSource {
  read(id: string): Promise<Tree>;
}

/** Tree pack bodies kept at most (bytes): a depth-first walk meets tree packs in order. */
const DEFAULT_BODY_BUDGET = 16 * 1024 * 1024;

/**
 * Reads trees for a restore with bounded memory. Unlike `Repository.readTree`, which keeps
 * every tree and tree pack it has read (fine for one folder, not for a million files), this
 * keeps only the most recently used tree pack bodies, up to a byte budget, and no decoded
 * trees: a walk holds the trees on its path, nothing else. A pack holding only trees is still
 * fetched whole (one GET per tree pack, not one per folder); any other tree is a ranged GET.
 */
export class TreeReader {
  /** Pack id → body, least recently used first (a Map keeps insertion order). */
  private readonly bodies = new Map<string, Promise<Buffer>>();
  private held = 0;
  private readonly sizes = new Map<string, number>();
  private readonly treeOnly = new Map<string, boolean>();

  constructor(
    private readonly repo: Repository,
    private readonly budget = DEFAULT_BODY_BUDGET,
    /** Trees the counting walk kept (its `keeping()` reads), taken by the restore walk's reads. */
    private readonly kept?: KeptTrees,
  ) {}

  /** Bytes of tree pack bodies held now. */
  get heldBytes(): number {
    return this.held;
  }

  /** A tree: the kept copy when there is one (taken: each kept reference serves one read). */
  async read(id: string): Promise<Tree> {
    const kept = this.kept?.take(id);
    return decodeTree(id, kept ?? (await this.plain(id)));
  }

  /**
   * Reads for the counting walk: each tree read is also kept (within the budget), for the
   * restore walk's `read` of it. The same tree again is not read again.
   */
  keeping(): TreeSource {
    const kept = this.kept;
    if (!kept) return this;
    return {
      read: async (id) => {
        const again = kept.addRef(id);
        if (again) return decodeTree(id, again);
        const plain = await this.plain(id);
        const tree = decodeTree(id, plain);
        kept.keep(id, plain);
        return tree;
      },
    };
  }

  /**
   * The counting walk is over: when it kept every tree, the tree pack bodies are let go
   * (the restore walk needs none of them).
   */
  counted(): void {
    if (!this.kept || this.kept.overflowed) return;
    this.bodies.clear();
    this.sizes.clear();
    this.held = 0;
  }

  /** A tree's plain bytes, read from its pack (opened and checked). */
  private async plain(id: string): Promise<Buffer> {
    const entry = await this.repo.locate(id);
    if (!entry || !this.isTreePack(entry.pack)) {
      // Not in a tree-only pack, or in no index: readBlob reads it (or names the damage).
      return this.repo.readBlob(id);
    }
    const body = await this.body(entry.pack);
    return this.repo.openBlob(body.subarray(entry.offset, entry.offset + entry.length), entry);
  }

  /** Whether a pack holds only trees (asked once per pack: the answer lists all its blobs). */
  private isTreePack(pack: string): boolean {
    let only = this.treeOnly.get(pack);
    if (only === undefined) {
      only = this.repo.index.treePack(pack) !== undefined;
      this.treeOnly.set(pack, only);
    }
    return only;
  }

  private body(pack: string): Promise<Buffer> {
    let body = this.bodies.get(pack);
    if (body) {
      // Most recently used: to the end.
      this.bodies.delete(pack);
      this.bodies.set(pack, body);
      return body;
    }
    body = this.repo.backend.get(keys.pack(pack));
    this.bodies.set(pack, body);
    // Owned: every reader awaits `body`; this accounts for it, or forgets a failed read.
    body.then(
      (bytes) => {
        if (this.bodies.get(pack) !== body) return;
        this.sizes.set(pack, bytes.length);
        this.held += bytes.length;
        this.evict(pack);
      },
      () => {
        if (this.bodies.get(pack) === body) this.bodies.delete(pack);
      },
    );
    return body;
  }

  private evict(keep: string): void {
    for (const pack of this.bodies.keys()) {
      if (this.held <= this.budget) return;
      if (pack === keep) continue;
      const size = this.sizes.get(pack);
      if (size === undefined) continue; // still downloading
      this.bodies.delete(pack);
      this.sizes.delete(pack);
      this.held -= size;
    }
  }
}
