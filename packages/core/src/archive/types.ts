import type { CompressionMode } from '../compress/compression.js';
import type { Snapshot } from '../repository/format.js';

export interface PushOptions {
  paths: string[];
  /** restic-style patterns (scan/excludes.ts), `--exclude` and `--exclude-file` lines. */
  excludes?: string[];
  /** Skip folders tagged with a CACHEDIR.TAG (standard signature). */
  excludeCaches?: boolean;
  /** Stay on each root's file system. */
  oneFileSystem?: boolean;
  /** Honour `.backupctlignore` files (gitignore syntax; default true). */
  ignoreFiles?: boolean;
  host: string;
  tags?: string[];
  /** Files read at once (default 8: small files are bound by system-call latency). */
  fileConcurrency?: number;
  /**
   * Count files and bytes ahead of the archiver, so progress can show totals and an ETA
   * (default: when there is an `onProgress` listener). It costs one more lstat per file.
   */
  scanTotals?: boolean;
  /** Pack uploads in flight (default 4). */
  uploadConcurrency?: number;
  /** zstd of new blobs and metadata (default `auto`; version 1 repositories: always off). */
  compression?: CompressionMode;
  /**
   * List folders and lstat their entries in a walker thread, ahead of the walk
   * (scan/dir-lister.ts): true where the folders walked lately hold many files (a thread's
   * round trip costs more than listing a few), `'always'` for every folder, false (the
   * default) never. The snapshot is the same. Off by default: on this project's shared
   * 2-core machine it took the main thread's lstat calls off it but cost more CPU than it
   * saved and no wall time (docs/benchmarks.md, "Unchanged re-push (repush)").
   */
  walkerThread?: boolean | 'always';
}

export interface PushProgress {
  filesDone: number;
  bytesDone: number;
  /** Totals grow while the scanner runs; `scanDone` says when they are final. */
  filesTotal: number;
  bytesTotal: number;
  scanDone: boolean;
  /** Of filesDone/bytesDone: files found unchanged (size, mtime, ctime, inode), not read again. */
  filesUnchanged: number;
  bytesUnchanged: number;
  bytesUploaded: number;
  currentPath?: string;
}

export interface PushEvents {
  onProgress?(progress: PushProgress): void;
  onWarning?(warning: PushWarning): void;
  onRecovered?(info: { packs: number; blobs: number }): void;
}

export interface PushWarning {
  path: string;
  message: string;
}

export interface PushResult {
  snapshotId: string;
  snapshot: Snapshot;
  warnings: PushWarning[];
  /**
   * Local bookkeeping that failed after the snapshot was written (the commit point), e.g.
   * a full cache disk. The snapshot is complete; the next push only re-reads more files.
   */
  cacheWarnings: string[];
  recoveredPacks: number;
  durationMs: number;
}
