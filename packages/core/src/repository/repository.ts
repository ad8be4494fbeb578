import { createHash, randomBytes } from 'node:crypto';
import { DEFAULT_CHUNKER_PARAMS } from '../chunk/fastcdc.js';
import {
  type CompressionMode,
  compressBlob,
  decodeMeta,
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
  keys,
  prefixes,
  READABLE_VERSIONS,
  type RepoConfig,
  type Snapshot,
  type Tree,
} from './format.js';
import { MasterIndex } from './master-index.js';

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
    for await (const object of backend.list(prefixes.keys)) {
      const file = JSON.parse((await backend.get(object.key)).toString()) as KeyFile;
      try {
        const repo = await Repository.fromKeys(backend, config, await unwrapMasterKey(file, passphrase));
        repo.keyId = object.key.slice(prefixes.keys.length);
        return repo;
      } catch (error) {
        lastError = error;
      }
    }
    throw (
      lastError ??
      new BackupctlError(ErrorCodes.repoInvalid, `no key file in the repository at ${backend.location}`)
    );
  }

  static async readConfig(backend: Backend): Promise<RepoConfig> {
    // Ask whether it exists first (a LIST on S3): the device never reads a missing key.
    if (!(await backend.stat(keys.config))) {
      throw new BackupctlError(ErrorCodes.repoNotFound, `no repository at ${backend.location}`, {
        resolution: 'Create one with `backupctl init --bucket NAME` (AWS) or `backupctl init --repo DIR`.',
      });
    }
    const raw = await backend.get(keys.config);
    const config = JSON.parse(raw.toString()) as RepoConfig;
    if (!READABLE_VERSIONS.includes(config.version)) {
      throw new BackupctlError(
        ErrorCodes.repoInvalid,
        `repository format version ${config.version} is not supported (this backupctl reads versions ${READABLE_VERSIONS.join(' and ')})`,
        { resolution: 'Upgrade backupctl.' },
      );
    }
    return config;
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
    const bytes = sealed ?? (await this.backend.get(key));
    return JSON.parse(await this.openMeta(bytes, key)) as T;
  }

  /** Reads one blob from its pack (a ranged GET) and checks its id. */
  async readBlob(id: string): Promise<Buffer> {
    const entry = this.index.get(id);
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

  private readonly trees = new Map<string, Promise<Buffer>>();

  /**
   * Reads a tree. A pack holding only trees is fetched whole, once, and all its trees are
   * kept: walking a snapshot then costs a GET per tree pack, not one per folder.
   */
  async readTree(id: string): Promise<Tree> {
    let plain = this.trees.get(id);
    if (!plain) {
      const entry = this.index.get(id);
      const siblings = entry ? this.index.treePack(entry.pack) : undefined;
      if (entry && siblings) {
        const body = this.backend.get(keys.pack(entry.pack));
        for (const blob of siblings) {
          this.trees.set(
            blob.id,
            body.then((bytes) => this.openBlob(bytes.subarray(blob.offset, blob.offset + blob.length), blob)),
          );
        }
        plain = this.trees.get(id)!;
      } else {
        plain = this.readBlob(id);
      }
    }
    return JSON.parse((await plain).toString()) as Tree;
  }

  async listSnapshots(cache?: ObjectCache): Promise<Array<Snapshot & { id: string }>> {
    const out: Array<Snapshot & { id: string }> = [];
    for await (const object of this.backend.list(prefixes.snapshots)) {
      const id = object.key.slice(prefixes.snapshots.length);
      const sealed = await cachedGet(this.backend, object.key, cache);
      out.push({ ...(await this.loadJson<Snapshot>(object.key, sealed)), id });
    }
    return out.sort((a, b) => a.time.localeCompare(b.time));
  }
}

/** A local copy of immutable objects (index and snapshot files), so they download once. */
export interface ObjectCache {
  read(key: string): Promise<Buffer | undefined>;
  write(key: string, data: Uint8Array): Promise<void>;
}

export async function cachedGet(backend: Backend, key: string, cache?: ObjectCache): Promise<Buffer> {
  const hit = await cache?.read(key);
  if (hit) return hit;
  const data = await backend.get(key);
  await cache?.write(key, data);
  return data;
}
