import { createHash, randomBytes } from 'node:crypto';
import { DEFAULT_CHUNKER_PARAMS } from '../chunk/fastcdc.js';
import {
  type CompressionMode,
  compressBlob,
  decodeMeta,
  decodeMetaBytes,
  decompressBlob,
  encodeMeta,
} from '../compress/compression.js';
import {
  contentId,
  decrypt,
  encrypt,
  importEncryptionKey,
  importIdKey,
  type KeyFile,
  type MasterKey,
  newMasterKey,
  type SecretKey,
  unwrapMasterKey,
  wrapMasterKey,
} from '../crypto/index.js';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import type { Backend } from '../storage/backend.js';
import {
  type BlobEntry,
  DEFAULT_PACK_SIZE,
  FORMAT_VERSION,
  type IndexFile,
  keys,
  prefixes,
  READABLE_VERSIONS,
  type RepoConfig,
  type Snapshot,
  type Tree,
} from './format.js';
import { type LocatedBlob, MasterIndex } from './master-index.js';
import { objectKind, verifyObject } from './verify-object.js';

/** An object that failed authentication: left aside, reported, never fatal on its own. */
export interface RejectedObject {
  key: string;
  kind: 'key' | 'index' | 'snapshot' | 'prune';
  reason: string;
}

export interface RepositoryInitOptions {
  host: string;
  packSize?: number;
  chunker?: RepoConfig['chunker'];
  kdf?: { N: number; r: number; p: number };
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * An open repository: its config, its keys, and the encrypted-object plumbing every
 * operation shares. It knows storage only through the `Backend` interface.
 */
export class Repository {
  readonly index = new MasterIndex();
  /** The key file (`keys/<id>`) whose passphrase opened this repository. */
  keyId: string | undefined;
  private compressionMode: CompressionMode;

  private constructor(
    readonly backend: Backend,
    readonly config: RepoConfig,
    readonly master: MasterKey,
    private readonly encKey: SecretKey,
    private readonly idKey: SecretKey,
  ) {
    this.compressionMode = config.version >= 2 ? 'auto' : 'off';
  }

  /** How new blobs and metadata are written; a version 1 repository is never compressed. */
  get compression(): CompressionMode {
    return this.compressionMode;
  }

  set compression(mode: CompressionMode) {
    this.compressionMode = this.config.version >= 2 ? mode : 'off';
  }

  /** Creates a repository: key file first, then `config`, the commit point of init. */
  static async init(
    backend: Backend,
    passphrase: string,
    options: RepositoryInitOptions,
  ): Promise<Repository> {
    // `stat` asks with a LIST on S3: never a read of a key that may be missing.
    if (await backend.stat(keys.config)) {
      throw new BackupctlError(ErrorCodes.repoExists, `a repository already exists at ${backend.location}`, {
        resolution: 'Use it as it is, or choose another location.',
      });
    }
    // No config but key files or packs: a repository that lost its config. A second
    // repository over it would bury the first (its snapshots unreadable with the new key).
    const lost = await missingConfigError(backend);
    if (lost.code !== ErrorCodes.repoNotFound) throw lost;
    const master = newMasterKey();
    const keyFile = await wrapMasterKey(master, passphrase, options.host, options.kdf);
    const keyBytes = Buffer.from(JSON.stringify(keyFile));
    const keyId = sha256Hex(keyBytes);
    await backend.putIfAbsent(keys.keyFile(keyId), keyBytes);
    const config: RepoConfig = {
      version: FORMAT_VERSION,
      id: randomBytes(16).toString('hex'),
      created: new Date().toISOString(),
      chunker: options.chunker ?? { ...DEFAULT_CHUNKER_PARAMS },
      packSize: options.packSize ?? DEFAULT_PACK_SIZE,
    };
    if ((await backend.putIfAbsent(keys.config, Buffer.from(JSON.stringify(config, null, 2)))) === 'exists') {
      throw new BackupctlError(ErrorCodes.repoExists, `a repository already exists at ${backend.location}`);
    }
    const repo = await Repository.fromKeys(backend, config, master);
    repo.keyId = keyId;
    return repo;
  }

  static async open(backend: Backend, passphrase: string): Promise<Repository> {
    const config = await Repository.readConfig(backend);
    let lastError: unknown;
    const rejected: RejectedObject[] = [];
    for await (const object of backend.list(prefixes.keys)) {
      // A foreign or damaged key file is left aside: it must not lock the owner out.
      let file: KeyFile;
      try {
        const bytes = await backend.get(object.key);
        verifyObject(object.key, bytes);
        file = parseKeyFile(bytes);
      } catch (error) {
        if (!BackupctlError.is(error) || error.code !== ErrorCodes.integrity) throw error;
        rejected.push({ key: object.key, kind: 'key', reason: error.message });
        continue;
      }
      try {
        const repo = await Repository.fromKeys(backend, config, await unwrapMasterKey(file, passphrase));
        repo.keyId = object.key.slice(prefixes.keys.length);
        for (const r of rejected) repo.rejected.set(r.key, r);
        return repo;
      } catch (error) {
        lastError = error;
      }
    }
    throw (
      lastError ??
      new BackupctlError(
        ErrorCodes.repoInvalid,
        rejected.length > 0
          ? `no usable key file in the repository at ${backend.location}: ${rejected.map((r) => r.reason).join('; ')}`
          : `no key file in the repository at ${backend.location}`,
        {
          source: 'environment',
          resolution:
            'The key files under keys/ hold the only copies of the wrapped master key: restore them from a copy of the repository.',
        },
      )
    );
  }

  static async readConfig(backend: Backend): Promise<RepoConfig> {
    // Ask whether it exists first (a LIST on S3): the device never reads a missing key.
    if (!(await backend.stat(keys.config))) throw await missingConfigError(backend);
    const raw = await backend.get(keys.config);
    return parseRepoConfig(raw, backend.location);
  }

  private static async fromKeys(
    backend: Backend,
    config: RepoConfig,
    master: MasterKey,
  ): Promise<Repository> {
    return new Repository(
      backend,
      config,
      master,
      await importEncryptionKey(master.encryption),
      await importIdKey(master.id),
    );
  }

  blobId(plain: Uint8Array): Promise<string> {
    return contentId(this.idKey, plain);
  }

  seal(plain: Uint8Array): Promise<Buffer> {
    return encrypt(this.encKey, plain);
  }

  /** A blob as stored: compressed when that pays (see compression.ts), then encrypted. */
  async sealBlob(plain: Uint8Array): Promise<{ sealed: Buffer; compressed: boolean }> {
    const packed = await compressBlob(plain, this.compressionMode);
    return { sealed: await this.seal(packed ?? plain), compressed: packed !== undefined };
  }

  /** A metadata object (index, snapshot, pack header) as stored: see encodeMeta. */
  async sealMeta(json: string): Promise<Buffer> {
    return this.seal(await encodeMeta(json, this.compressionMode));
  }

  async openMeta(sealed: Uint8Array, what: string): Promise<string> {
    return decodeMeta(await this.open(sealed, what));
  }

  async open(sealed: Uint8Array, what: string): Promise<Buffer> {
    try {
      return await decrypt(this.encKey, sealed);
    } catch {
      throw new BackupctlError(ErrorCodes.integrity, `${what} does not decrypt: it was altered or damaged`, {
        source: 'environment',
        resolution: 'Run `backupctl check --read-data` to see the extent of the damage.',
      });
    }
  }

  /** Writes an encrypted JSON object under `<prefix><sha256 of its bytes>`. */
  async saveJson(
    prefix: 'index/' | 'snapshots/' | 'prune/',
    value: unknown,
  ): Promise<{ id: string; sealed: Buffer }> {
    const sealed = await this.sealMeta(JSON.stringify(value));
    const id = sha256Hex(sealed);
    await this.backend.putIfAbsent(`${prefix}${id}`, sealed);
    return { id, sealed };
  }

  async loadJson<T>(key: string, sealed?: Buffer): Promise<T> {
    return this.parseJson<T>(key, await this.loadJsonBytes(key, sealed));
  }

  /** A metadata object's JSON, decrypted and decompressed, as bytes (see loadJson). */
  async loadJsonBytes(key: string, sealed?: Buffer): Promise<Buffer> {
    const bytes = sealed ?? (await this.getObject(key));
    const plain = await this.open(bytes, key);
    try {
      return await decodeMetaBytes(plain);
    } catch {
      // A frame that does not decompress: as damaged as JSON that does not parse.
      throw notJson(key);
    }
  }

  /** `json` parsed, or an integrity error: the object decrypted, so it is not ours. */
  parseJson<T>(key: string, json: Buffer): T {
    try {
      return JSON.parse(json.toString()) as T;
    } catch {
      throw notJson(key);
    }
  }

  /**
   * Reads every key file (open stops at the first that works) and sets aside those that
   * are not what their name says or not key files at all. For `check`.
   */
  async auditKeys(): Promise<number> {
    let keyFiles = 0;
    for await (const object of this.backend.list(prefixes.keys)) {
      try {
        const bytes = await this.backend.get(object.key);
        verifyObject(object.key, bytes);
        parseKeyFile(bytes);
        keyFiles++;
      } catch (error) {
        if (!isIntegrityError(error)) throw error;
        this.reject(object.key, error);
      }
    }
    return keyFiles;
  }

  /** Objects that failed authentication so far (key files, index files, snapshots). */
  readonly rejected = new Map<string, RejectedObject>();

  /** Sets an object aside: it is reported, and the rest of the repository stays usable. */
  reject(key: string, error: unknown): void {
    const kind = objectKind(key);
    if (kind !== 'key' && kind !== 'index' && kind !== 'snapshot' && kind !== 'prune') return;
    this.rejected.set(key, {
      key,
      kind,
      reason: error instanceof Error ? error.message : String(error),
    });
  }

  /**
   * Reads an immutable object and verifies it against its name (`verifyObject`). A cached
   * copy is used only if it verifies (a bad one is replaced from the repository); with
   * `fresh`, the repository's copy is read whatever the cache holds, and the cache is
   * checked against it (`onCacheMismatch`).
   */
  async getObject(
    key: string,
    cache?: ObjectCache,
    options: { fresh?: boolean; onCacheMismatch?: (key: string) => void } = {},
  ): Promise<Buffer> {
    const hit = await cache?.read(key);
    if (hit && !options.fresh) {
      try {
        verifyObject(key, hit);
        return hit;
      } catch {
        // A damaged local copy: fetch the repository's and overwrite it.
      }
    }
    const data = await this.backend.get(key);
    verifyObject(key, data);
    if (hit && !hit.equals(data)) options.onCacheMismatch?.(key);
    if (!hit?.equals(data)) await cache?.write(key, data);
    return data;
  }

  /**
   * Set by `loadIndex`: indexes, from their own headers, the packs no index lists. Run at
   * most once, and only when a blob is missing — the data of a lost index stays reachable.
   */
  indexRecovery: (() => Promise<IndexFile['packs']>) | undefined;
  private recovery: Promise<IndexFile['packs']> | undefined;
  /** Packs indexed from their headers (by `loadIndex` or on a missing blob). */
  readonly headerIndexed: IndexFile['packs'] = [];

  /** Where a blob is, recovering lost index data from pack headers once if needed. */
  async locate(id: string): Promise<LocatedBlob | undefined> {
    const entry = this.index.get(id);
    if (entry || !this.indexRecovery) return entry;
    if (!this.recovery) {
      const running = this.indexRecovery();
      this.recovery = running;
      running.then(
        (packs) => {
          this.index.add({ version: FORMAT_VERSION, packs });
          this.headerIndexed.push(...packs);
          this.indexRecovery = undefined;
        },
        () => {
          this.recovery = undefined;
        },
      );
    }
    await this.recovery;
    return this.index.get(id);
  }

  /** Reads one blob from its pack (a ranged GET) and checks its id. */
  async readBlob(id: string): Promise<Buffer> {
    const entry = await this.locate(id);
    if (!entry) {
      throw new BackupctlError(ErrorCodes.integrity, `blob ${id} is not in the index`, {
        source: 'environment',
        resolution: 'Run `backupctl check` to see the extent of the damage.',
      });
    }
    const sealed = await this.backend.get(keys.pack(entry.pack), {
      offset: entry.offset,
      length: entry.length,
    });
    return this.openBlob(sealed, entry);
  }

  async openBlob(sealed: Uint8Array, entry: BlobEntry & { pack: string }): Promise<Buffer> {
    const opened = await this.open(sealed, `blob ${entry.id} in pack ${entry.pack}`);
    let plain = opened;
    if (entry.compressed) {
      try {
        plain = await decompressBlob(opened);
      } catch {
        throw new BackupctlError(
          ErrorCodes.integrity,
          `blob ${entry.id} in pack ${entry.pack} does not decompress`,
          {
            source: 'environment',
            resolution: 'Run `backupctl check --read-data` to see the extent of the damage.',
          },
        );
      }
    }
    if ((await this.blobId(plain)) !== entry.id) {
      throw new BackupctlError(
        ErrorCodes.integrity,
        `blob ${entry.id} in pack ${entry.pack} has other contents`,
        {
          source: 'environment',
        },
      );
    }
    return plain;
  }

  /** Whole tree packs being read or read: one GET per pack, shared by all its trees. */
  private readonly treePackBodies = new Map<string, Promise<Buffer>>();
  private readonly trees = new Map<string, Buffer>();

  /**
   * Reads a tree. A pack holding only trees is fetched whole, once, and all its trees are
   * kept: walking a snapshot then costs a GET per tree pack, not one per folder. Every
   * promise here is awaited by the caller that asked: a failed pack read rejects only the
   * reads that wait for it, and is tried again by the next.
   */
  async readTree(id: string): Promise<Tree> {
    let plain = this.trees.get(id);
    if (!plain) {
      const entry = await this.locate(id);
      const siblings = entry ? this.index.treePack(entry.pack) : undefined;
      if (entry && siblings) {
        const body = await this.treePackBody(entry.pack);
        plain = await this.openBlob(body.subarray(entry.offset, entry.offset + entry.length), entry);
        this.trees.set(id, plain);
      } else {
        plain = await this.readBlob(id);
      }
    }
    return decodeTree(id, plain);
  }

  private async treePackBody(pack: string): Promise<Buffer> {
    let body = this.treePackBodies.get(pack);
    if (!body) {
      body = this.backend.get(keys.pack(pack));
      this.treePackBodies.set(pack, body);
      // Owned: every reader awaits `body`; this only keeps a failure from being cached.
      body.catch(() => this.treePackBodies.delete(pack));
    }
    return body;
  }

  /**
   * Every snapshot that authenticates, oldest first. One that does not (foreign, damaged,
   * or not what its name says) is set aside in `rejected`; the others stay usable.
   */
  async listSnapshots(
    cache?: ObjectCache,
    options: { fresh?: boolean } = {},
  ): Promise<Array<Snapshot & { id: string }>> {
    const out: Array<Snapshot & { id: string }> = [];
    for await (const object of this.backend.list(prefixes.snapshots)) {
      const id = object.key.slice(prefixes.snapshots.length);
      try {
        const sealed = await this.getObject(object.key, cache, options);
        const snapshot = await this.loadJson<Snapshot>(object.key, sealed);
        if (
          typeof snapshot?.tree !== 'string' ||
          typeof snapshot.time !== 'string' ||
          typeof snapshot.host !== 'string' ||
          !Array.isArray(snapshot.paths) ||
          !snapshot.paths.every((p) => typeof p === 'string') ||
          !Array.isArray(snapshot.tags) ||
          typeof snapshot.summary !== 'object' ||
          snapshot.summary === null
        ) {
          throw new BackupctlError(ErrorCodes.integrity, `${object.key} is not a snapshot`, {
            source: 'environment',
          });
        }
        out.push({ ...snapshot, id });
      } catch (error) {
        if (!isIntegrityError(error)) throw error;
        this.reject(object.key, error);
      }
    }
    return out.sort((a, b) => a.time.localeCompare(b.time));
  }
}

function notJson(key: string): BackupctlError {
  return new BackupctlError(ErrorCodes.integrity, `${key} decrypts but is not valid JSON`, {
    source: 'environment',
  });
}

/** A local copy of immutable objects (index and snapshot files), so they download once. */
export interface ObjectCache {
  read(key: string): Promise<Buffer | undefined>;
  write(key: string, data: Uint8Array): Promise<void>;
}

export function isIntegrityError(error: unknown): boolean {
  return BackupctlError.is(error) && error.code === ErrorCodes.integrity;
}

/** A tree blob's plaintext as a Tree (its shape checked), or an integrity error. */
export function decodeTree(id: string, plain: Buffer): Tree {
  let tree: Tree;
  try {
    tree = JSON.parse(plain.toString()) as Tree;
  } catch {
    throw new BackupctlError(ErrorCodes.integrity, `tree ${id} decrypts but is not valid JSON`, {
      source: 'environment',
    });
  }
  if (!isTree(tree)) {
    throw new BackupctlError(ErrorCodes.integrity, `tree ${id} decrypts but is not a tree`, {
      source: 'environment',
    });
  }
  return tree;
}

/** The shape the walkers rely on; names themselves are checked by restore. */
function isTree(tree: unknown): tree is Tree {
  const nodes = (tree as Tree | null)?.nodes;
  return (
    Array.isArray(nodes) &&
    nodes.every(
      (n) =>
        typeof n?.name === 'string' &&
        (n.type === 'file' || n.type === 'dir' || n.type === 'symlink') &&
        (n.chunks === undefined ||
          (Array.isArray(n.chunks) && n.chunks.every((c) => typeof c === 'string'))) &&
        (n.subtree === undefined || typeof n.subtree === 'string'),
    )
  );
}

function parseKeyFile(bytes: Buffer): KeyFile {
  let file: KeyFile;
  try {
    file = JSON.parse(bytes.toString()) as KeyFile;
  } catch {
    throw new BackupctlError(ErrorCodes.integrity, 'a key file is not valid JSON', { source: 'environment' });
  }
  if (
    typeof file !== 'object' ||
    file === null ||
    typeof file.wrapped !== 'string' ||
    typeof file.kdf !== 'object'
  ) {
    throw new BackupctlError(ErrorCodes.integrity, 'a key file is not a backupctl key file', {
      source: 'environment',
    });
  }
  return file;
}

export function parseRepoConfig(raw: Buffer, location: string): RepoConfig {
  let config: RepoConfig;
  try {
    config = JSON.parse(raw.toString()) as RepoConfig;
  } catch {
    throw new BackupctlError(
      ErrorCodes.repoConfigLost,
      `the repository config at ${location} is not valid JSON`,
      {
        source: 'environment',
        resolution:
          "The object `config` is damaged; the key files and packs are intact. Put back a copy of `config` (from another copy of the repository or the bucket's object versions). Do not create a new repository over this one.",
      },
    );
  }
  if (typeof config !== 'object' || config === null || !READABLE_VERSIONS.includes(config.version)) {
    throw new BackupctlError(
      ErrorCodes.repoInvalid,
      `repository format version ${(config as { version?: unknown } | null)?.version} is not supported (this backupctl reads versions ${READABLE_VERSIONS.join(' and ')})`,
      { resolution: 'Upgrade backupctl.' },
    );
  }
  return config;
}

/**
 * `config` is missing. If key files or packs are there, this is a repository that lost its
 * config — never advise `init`, which would start a second repository over the first.
 */
async function missingConfigError(backend: Backend): Promise<BackupctlError> {
  for (const prefix of [prefixes.keys, prefixes.snapshots, prefixes.data]) {
    for await (const _ of backend.list(prefix)) {
      return new BackupctlError(
        ErrorCodes.repoConfigLost,
        `the repository at ${backend.location} has lost its \`config\` object (its key files and packs are still there)`,
        {
          source: 'environment',
          details: { configMissing: true },
          resolution:
            'Rebuild it with `backupctl repair config` (the key files and packs describe the rest), or put back a copy of `config` (from another copy of the repository, or an earlier version of the object if the bucket keeps versions). Do not create a new repository here: it would start a second one over this one.',
        },
      );
    }
  }
  return new BackupctlError(ErrorCodes.repoNotFound, `no repository at ${backend.location}`, {
    resolution: 'Create one with `backupctl init --bucket NAME` (AWS) or `backupctl init --repo DIR`.',
  });
}
