import type { BlobEntry, IndexFile } from './format.js';

export type LocatedBlob = BlobEntry & { pack: string };

/** Every blob the repository holds, by id, merged from all index files. */
export class MasterIndex {
  private readonly blobs = new Map<string, LocatedBlob>();
  private readonly packs = new Map<string, number>();

  add(file: IndexFile): void {
    for (const pack of file.packs) {
      this.packs.set(pack.id, pack.size);
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

  hasPack(id: string): boolean {
    return this.packs.has(id);
  }

  packIds(): IterableIterator<[string, number]> {
    return this.packs.entries();
  }

  get blobCount(): number {
    return this.blobs.size;
  }

  get packCount(): number {
    return this.packs.size;
  }
}
