import type { BlobEntry, IndexFile } from './format.js';

export type LocatedBlob = BlobEntry & { pack: string };

/** Every blob the repository holds, by id, merged from all index files. */
export class MasterIndex {
  private readonly blobs = new Map<string, LocatedBlob>();
  private readonly packs = new Map<string, number>();
  private readonly treePacks = new Map<string, LocatedBlob[]>();

  add(file: IndexFile): void {
    for (const pack of file.packs) {
      this.packs.set(pack.id, pack.size);
      if (pack.blobs.length > 0 && pack.blobs.every((b) => b.type === 'tree')) {
        this.treePacks.set(
          pack.id,
          pack.blobs.map((b) => ({ ...b, pack: pack.id })),
        );
      }
      for (const blob of pack.blobs) {
        if (!this.blobs.has(blob.id)) this.blobs.set(blob.id, { ...blob, pack: pack.id });
      }
    }
  }

  has(id: string): boolean {
    return this.blobs.has(id);
  }

  get(id: string): LocatedBlob | undefined {
    return this.blobs.get(id);
  }

  /** The blobs of a pack that holds only trees, or undefined for any other pack. */
  treePack(id: string): LocatedBlob[] | undefined {
    return this.treePacks.get(id);
  }

  hasPack(id: string): boolean {
    return this.packs.has(id);
  }

  packIds(): IterableIterator<[string, number]> {
    return this.packs.entries();
  }

  allBlobs(): IterableIterator<LocatedBlob> {
    return this.blobs.values();
  }

  get blobCount(): number {
    return this.blobs.size;
  }

  get packCount(): number {
    return this.packs.size;
  }
}
