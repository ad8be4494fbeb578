import { promises as fs } from 'node:fs';
import { writeFileAtomic } from '../util/atomic-write.js';

/** What identifies an unchanged file without reading it. */
export interface FileFingerprint {
  size: number;
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
}

interface Entry extends FileFingerprint {
  chunks: string[];
}

/**
 * path + size + mtime + ctime + inode → chunk ids, from the last push. A hit lets an
 * unchanged file be re-pushed without reading it. ctime catches edits that restore the
 * mtime; the inode catches a file replaced by another. Losing it costs a re-read.
 */
export class FileCache {
  private readonly next = new Map<string, Entry>();

  private constructor(
    private readonly file: string,
    private readonly previous: Map<string, Entry>,
  ) {}

  static async load(file: string): Promise<FileCache> {
    try {
      const json = JSON.parse(await fs.readFile(file, 'utf8')) as {
        version: number;
        entries: [string, Entry][];
      };
      if (json.version === 1) return new FileCache(file, new Map(json.entries));
    } catch {
      // missing or damaged: start empty
    }
    return new FileCache(file, new Map());
  }

  lookup(path: string, now: FileFingerprint): string[] | undefined {
    const hit = this.previous.get(path);
    if (
      hit &&
      hit.size === now.size &&
      hit.mtimeNs === now.mtimeNs &&
      hit.ctimeNs === now.ctimeNs &&
      hit.ino === now.ino
    ) {
      return hit.chunks;
    }
    return undefined;
  }

  record(path: string, fingerprint: FileFingerprint, chunks: string[]): void {
    this.next.set(path, { ...fingerprint, chunks });
  }

  /**
   * Saves this push's entries plus the previous entries outside the pushed roots (a push
   * of other paths must not forget them).
   */
  async save(roots: string[]): Promise<void> {
    const under = (p: string) => roots.some((r) => p === r || p.startsWith(r.endsWith('/') ? r : `${r}/`));
    for (const [p, entry] of this.previous) {
      if (!under(p) && !this.next.has(p)) this.next.set(p, entry);
    }
    await writeFileAtomic(this.file, JSON.stringify({ version: 1, entries: [...this.next] }));
  }
}
