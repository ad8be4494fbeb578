/**
 * The repository format, version 2 (1 + zstd compression). docs/repository-format.md is the
 * prose version of this file; change both together, and bump FORMAT_VERSION on any
 * incompatible change. Version 1 repositories stay readable, and are written as version 1
 * (uncompressed), so an older backupctl still reads them.
 */
export const FORMAT_VERSION = 2;
export type FormatVersion = 1 | 2;
export const READABLE_VERSIONS: readonly FormatVersion[] = [1, 2];

export type BlobType = 'data' | 'tree';

/** `config`: plaintext, written last by init (its commit point). */
export interface RepoConfig {
  version: FormatVersion;
  id: string;
  created: string;
  chunker: { minSize: number; avgSize: number; maxSize: number };
  packSize: number;
}

/**
 * A blob's place in a pack. `length` is the stored (encrypted) length, `rawLength` the
 * plaintext's before compression. `compressed` (version 2): the encrypted bytes are a zstd
 * frame of the plaintext; absent, they are the plaintext itself.
 */
export interface BlobEntry {
  id: string;
  type: BlobType;
  offset: number;
  length: number;
  rawLength: number;
  compressed?: true;
}

/**
 * Whether `n` can be a blob's offset, length or raw length: an integer in [0, 2^32). Packs
 * are ~16 MiB and blobs at most a few MiB; the master index keeps these in 32 bits, so a
 * larger number is a damaged or foreign index file, not one to load.
 */
export function isBlobField(n: unknown): n is number {
  return Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 0xffff_ffff;
}

/** `index/<id>`: which blobs each pack holds. */
export interface IndexFile {
  version: FormatVersion;
  packs: Array<{ id: string; size: number; blobs: BlobEntry[] }>;
}

export type NodeType = 'file' | 'dir' | 'symlink';

export interface TreeNode {
  name: string;
  type: NodeType;
  /** Permission bits and setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  /** Modification time in nanoseconds since the epoch, as a decimal string. */
  mtimeNs: string;
  /** Files: byte size. */
  size?: number;
  /** Files: data blob ids in order. */
  chunks?: string[];
  /** Directories: tree blob id. */
  subtree?: string;
  /** Symlinks: the target, verbatim. */
  target?: string;
  /**
   * Optional fields (added without a format bump; older trees lack them, older readers
   * ignore them). `nameBytes` / `targetBytes`: base64 of the raw bytes when the name or
   * the link target is not valid UTF-8 (`name` / `target` then hold a lossy copy for
   * display); restore uses the bytes.
   */
  nameBytes?: string;
  targetBytes?: string;
  /** Owner ids (restored when restore runs as root). */
  uid?: number;
  gid?: number;
  /** Files with several hard links: `<device>:<inode>`, the same for each link in a snapshot. */
  hardlink?: string;
  /**
   * Files and folders: extended attributes (POSIX ACLs included, as
   * `system.posix_acl_access` / `system.posix_acl_default`), sorted by name; `value` is
   * base64 of the raw bytes. Absent when there are none.
   */
  xattrs?: Array<{ name: string; value: string }>;
}

/** A tree blob: one directory's entries, sorted by name. */
export interface Tree {
  nodes: TreeNode[];
}

/** `snapshots/<id>`: the commit point of a push. */
export interface Snapshot {
  version: FormatVersion;
  time: string;
  host: string;
  paths: string[];
  tags: string[];
  /** The tree of '/', holding each backed-up path under its absolute path. */
  tree: string;
  parent?: string;
  summary: SnapshotSummary;
}

export interface SnapshotSummary {
  files: number;
  dirs: number;
  bytes: number;
  newBytes: number;
  newBlobs: number;
  packsWritten: number;
  bytesUploaded: number;
  /** Files that could not be read (each one is a warning). */
  skipped: number;
  /** Sockets, FIFOs and devices: nothing to store, not an error. */
  special: number;
}

/**
 * `prune/<id>`: packs that prune found unreferenced at `time`, written by the owner before
 * anything is deleted. A push does not deduplicate against (nor recover) a marked pack, and
 * prune deletes a marked pack only once it has stayed unreferenced for the safety margin —
 * longer than any push that may still reference it can take.
 */
export interface PruneMarker {
  version: typeof FORMAT_VERSION;
  /** When prune found these packs unreferenced (ISO 8601, the prune host's clock). */
  time: string;
  host: string;
  packs: Array<{ id: string; size: number }>;
}

export const keys = {
  config: 'config',
  keyFile: (id: string) => `keys/${id}`,
  pack: (id: string) => `data/${id.slice(0, 2)}/${id}`,
  index: (id: string) => `index/${id}`,
  snapshot: (id: string) => `snapshots/${id}`,
  pruneMarker: (id: string) => `prune/${id}`,
} as const;

export const prefixes = {
  keys: 'keys/',
  data: 'data/',
  index: 'index/',
  snapshots: 'snapshots/',
  pruneMarkers: 'prune/',
} as const;

/** Pack layout: blobs ‖ encrypted header ‖ uint32 LE header length. */
export const PACK_TRAILER_BYTES = 4;
export const DEFAULT_PACK_SIZE = 16 * 1024 * 1024;
