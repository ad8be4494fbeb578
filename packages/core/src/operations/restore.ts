import { promises as fs } from 'node:fs';
import path from 'node:path';
import pLimit from 'p-limit';
import type { RepoCache } from '../cache/repo-cache.js';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import { keys, type TreeNode } from '../repository/format.js';
import { loadIndex } from '../repository/index-sync.js';
import type { LocatedBlob } from '../repository/master-index.js';
import type { Repository } from '../repository/repository.js';
import { PathPatterns } from '../scan/excludes.js';
import { findSnapshot } from './find-snapshot.js';

export interface RestoreOptions {
  snapshot: string;
  target: string;
  /**
   * Patterns with the exclude rules (restic's): `/`-anchored on the absolute backed-up path,
   * otherwise at any depth; a matching folder brings everything below it.
   */
  include?: string[];
  /** Pack downloads in flight (default 4). */
  concurrency?: number;
}

export interface RestoreProgress {
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface RestoreEvents {
  onProgress?(progress: RestoreProgress): void;
}

export interface RestoreResult {
  snapshotId: string;
  target: string;
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  bytesDownloaded: number;
  requests: number;
}

interface PlannedFile {
  dest: string;
  node: TreeNode;
}

/** Blobs closer than this within a pack are fetched in one ranged GET. */
const MERGE_GAP = 1024 * 1024;

/**
 * Restores a snapshot under `target`, each backed-up path at its absolute path (as restic
 * does). Contents are fetched pack by pack — one ranged GET per run of needed blobs, never
 * one per chunk — and written at their offsets; metadata is applied last, deepest first,
 * so read-only folders and mtimes come out exact.
 */
export async function restore(
  repo: Repository,
  cache: RepoCache | undefined,
  options: RestoreOptions,
  events: RestoreEvents = {},
): Promise<RestoreResult> {
  const snapshot = await findSnapshot(repo, cache, options.snapshot);
  await loadIndex(repo, cache);
  const target = path.resolve(options.target);
  // Includes follow the exclude rules (scan/excludes.ts): relative patterns at any depth.
  const includes = new PathPatterns(options.include ?? []);
  const wanted = (abs: string) => includes.empty || includes.matches(abs);

  const files: PlannedFile[] = [];
  const dirs: PlannedFile[] = [];
  const links: PlannedFile[] = [];
  const walk = async (treeId: string, abs: string, included: boolean): Promise<boolean> => {
    const tree = await repo.readTree(treeId);
    let any = false;
    for (const node of tree.nodes) {
      const childAbs = abs === '/' ? `/${node.name}` : `${abs}/${node.name}`;
      assertSafeName(node.name);
      const dest = path.join(target, childAbs);
      const inc = included || wanted(childAbs);
      if (node.type === 'dir') {
        if (node.subtree && (await walk(node.subtree, childAbs, inc))) {
          dirs.push({ dest, node });
          any = true;
        } else if (inc) {
          dirs.push({ dest, node });
          any = true;
        }
      } else if (inc) {
        (node.type === 'file' ? files : links).push({ dest, node });
        any = true;
      }
    }
    return any;
  };
  await walk(snapshot.tree, '/', false);

  const progress: RestoreProgress = {
    filesDone: 0,
    filesTotal: files.length,
    bytesDone: 0,
    bytesTotal: files.reduce((n, f) => n + (f.node.size ?? 0), 0),
  };
  await fs.mkdir(target, { recursive: true });
  for (const dir of [...dirs].reverse()) await fs.mkdir(dir.dest, { recursive: true, mode: 0o700 });

  // Create every file at its final size, then fill it pack by pack.
  const byPack = new Map<
    string,
    Map<string, { blob: LocatedBlob; at: Array<{ dest: string; offset: number }> }>
  >();
  const remaining = new Map<string, number>();
  // Folders exist already (created above); files are created in parallel: a tree of many
  // small files is bound by system calls, not by bytes.
  const fsLimit = pLimit(16);
  await Promise.all(
    files.map((file) =>
      fsLimit(async () => {
        const handle = await fs.open(file.dest, 'w', 0o600);
        await handle.truncate(file.node.size ?? 0);
        await handle.close();
      }),
    ),
  );
  for (const file of files) {
    let offset = 0;
    for (const id of file.node.chunks ?? []) {
      const blob = repo.index.get(id);
      if (!blob) {
        throw new BackupctlError(ErrorCodes.integrity, `blob ${id} of ${file.dest} is not in the index`, {
          source: 'environment',
          resolution: 'Run `backupctl check` to see the extent of the damage.',
        });
      }
      const pack = byPack.get(blob.pack) ?? new Map();
      byPack.set(blob.pack, pack);
      const slot = pack.get(id) ?? { blob, at: [] };
      slot.at.push({ dest: file.dest, offset });
      pack.set(id, slot);
      offset += blob.rawLength;
    }
    remaining.set(file.dest, (file.node.chunks ?? []).length);
    if ((file.node.chunks ?? []).length === 0) progress.filesDone++;
  }
  events.onProgress?.({ ...progress });

  let bytesDownloaded = 0;
  let requests = 0;
  const limit = pLimit(options.concurrency ?? 4);
  await Promise.all(
    [...byPack].map(([packId, blobs]) =>
      limit(async () => {
        const sorted = [...blobs.values()].sort((a, b) => a.blob.offset - b.blob.offset);
        for (const run of mergeRuns(sorted)) {
          const start = run[0]!.blob.offset;
          const end = run.at(-1)!.blob.offset + run.at(-1)!.blob.length;
          const bytes = await repo.backend.get(keys.pack(packId), { offset: start, length: end - start });
          bytesDownloaded += bytes.length;
          requests++;
          for (const { blob, at } of run) {
            const sealed = bytes.subarray(blob.offset - start, blob.offset - start + blob.length);
            const plain = await repo.openBlob(sealed, blob);
            for (const place of at) {
              const handle = await fs.open(place.dest, 'r+');
              try {
                await handle.write(plain, 0, plain.length, place.offset);
              } finally {
                await handle.close();
              }
              progress.bytesDone += plain.length;
              const left = (remaining.get(place.dest) ?? 1) - 1;
              remaining.set(place.dest, left);
              if (left === 0) progress.filesDone++;
            }
          }
          events.onProgress?.({ ...progress });
        }
      }),
    ),
  );

  await Promise.all(
    files.map((file) =>
      fsLimit(async () => {
        await fs.chmod(file.dest, file.node.mode);
        const t = seconds(file.node.mtimeNs);
        await fs.utimes(file.dest, t, t);
      }),
    ),
  );
  for (const link of links) {
    await fs.mkdir(path.dirname(link.dest), { recursive: true, mode: 0o700 });
    await fs.rm(link.dest, { force: true });
    await fs.symlink(link.node.target ?? '', link.dest);
    const t = seconds(link.node.mtimeNs);
    await fs.lutimes(link.dest, t, t);
  }
  // Deepest folders first: a child's metadata is set before its parent's mtime and mode.
  for (const dir of [...dirs].sort((a, b) => b.dest.length - a.dest.length)) {
    await fs.chmod(dir.dest, dir.node.mode);
    const t = seconds(dir.node.mtimeNs);
    await fs.utimes(dir.dest, t, t);
  }
  return {
    snapshotId: snapshot.id,
    target,
    files: files.length,
    dirs: dirs.length,
    symlinks: links.length,
    bytes: progress.bytesTotal,
    bytesDownloaded,
    requests,
  };
}

function mergeRuns<T extends { blob: LocatedBlob }>(sorted: T[]): T[][] {
  const runs: T[][] = [];
  for (const item of sorted) {
    const run = runs.at(-1);
    const last = run?.at(-1);
    if (run && last && item.blob.offset - (last.blob.offset + last.blob.length) <= MERGE_GAP) run.push(item);
    else runs.push([item]);
  }
  return runs;
}

function seconds(ns: string): number {
  const big = BigInt(ns);
  return Number(big / 1_000_000_000n) + Number(big % 1_000_000_000n) / 1e9;
}

/** A tree from a damaged or hostile repository must not write outside the target. */
function assertSafeName(name: string): void {
  if (!name || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new BackupctlError(
      ErrorCodes.integrity,
      `refusing to restore an entry named ${JSON.stringify(name)}`,
      {
        source: 'environment',
      },
    );
  }
}
