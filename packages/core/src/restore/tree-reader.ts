import { keys, type Tree } from '../repository/format.js';
import { decodeTree, type Repository } from '../repository/repository.js';

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
  ) {}

  /** Bytes of tree pack bodies held now. */
  get heldBytes(): number {
    return this.held;
  }

  async read(id: string): Promise<Tree> {
    const entry = await this.repo.locate(id);
    if (!entry || !this.isTreePack(entry.pack)) {
      // Not in a tree-only pack, or in no index: readBlob reads it (or names the damage).
      return decodeTree(id, await this.repo.readBlob(id));
    }
    const body = await this.body(entry.pack);
    const plain = await this.repo.openBlob(body.subarray(entry.offset, entry.offset + entry.length), entry);
    return decodeTree(id, plain);
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
