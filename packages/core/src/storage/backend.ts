/**
 * The one storage interface of backupctl. The engines see storage only through it; each
 * concrete backend (a local directory, S3) implements it, and the same backend test suite
 * (`testing/backend-suite.ts`) runs against every one.
 *
 * Keys are repository-relative, '/'-separated, never starting with '/' and never holding
 * '..' segments (e.g. `config`, `data/ab/ab12…`, `snapshots/…`). A backend maps them to
 * its own namespace (a folder, or a bucket prefix).
 *
 * Objects are immutable: there is no overwrite and no delete. That is what lets a device
 * key be unable to destroy backups.
 */
export interface ObjectInfo {
  key: string;
  size: number;
}

export interface ByteRange {
  offset: number;
  length: number;
}

export type PutResult = 'created' | 'exists';

/**
 * An object written piece by piece to a temporary place (a file), then published whole
 * under its key: how a pack is stored without its body ever being held in memory. Nothing
 * is visible under the key before `publish`; a process killed before it leaves only a
 * temporary file that `removeStaleTemporaries` (or the next push) removes.
 */
export interface StagedObject {
  /** Writes `bytes` at `position`; the caller leaves `bytes` untouched until this settles. */
  write(bytes: Uint8Array, position: number): Promise<void>;
  /**
   * Creates the object under `key` from the `size` bytes written (their SHA-256 is `sha256`,
   * hex) unless one exists (then 'exists', untouched), as `putIfAbsent` does. The staged
   * bytes are gone afterwards, whatever the outcome.
   */
  publish(key: string, size: number, sha256: string): Promise<PutResult>;
  /** Drops the staged bytes (the push failed). Safe to call more than once. */
  discard(): Promise<void>;
}

export interface Backend {
  /** Human-readable location, e.g. `/home/me/backups` or `s3://bucket/prefix`. */
  readonly location: string;
  /** Writes worth running at once (network stores gain from more than a local disk). */
  readonly writeConcurrency?: number;
  /** Creates the object unless one already exists under the key (then: 'exists', untouched). */
  putIfAbsent(key: string, body: Uint8Array): Promise<PutResult>;
  /** Reads an object, or a byte range of it. Throws `OBJECT_NOT_FOUND` when missing. */
  get(key: string, range?: ByteRange): Promise<Buffer>;
  /**
   * Each request has a price and a round trip (S3 bills per request): a reader of many
   * ranges asks for fewer, larger ones (restore spools the packs it needs, restore/pack-spool.ts).
   * A local folder does not set it.
   */
  readonly requestsCost?: boolean;
  /**
   * Reads an object, or a byte range of it, as pieces in order (held one piece at a time,
   * not the whole range); ends with an error when the body is cut short. Throws
   * `OBJECT_NOT_FOUND` when missing. Backends without it: callers use `get`.
   */
  getStream?(key: string, range?: ByteRange): Promise<AsyncIterable<Uint8Array>>;
  /** Lists objects whose key starts with `prefix` (repository-relative). */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Size of an object, or undefined when it does not exist. */
  stat(key: string): Promise<ObjectInfo | undefined>;
  /**
   * Opens a staged object (see StagedObject). `scratchDir` is where a backend that cannot
   * stage inside its own storage (S3) keeps the temporary file; a local folder stages in
   * its own `.tmp/`, so publishing is a link, not a copy. Backends without it: callers
   * use `stageObject` (storage/stage-object.ts), which falls back to memory.
   */
  stage?(scratchDir: string): Promise<StagedObject>;
  /** Removes what killed writers left (a local folder's `.tmp/*.part`); the count removed. */
  removeStaleTemporaries?(): Promise<number>;
}

/**
 * A backend that can delete: what retention (forget, prune) needs. A local folder can; an
 * S3 backend can only with the owner's admin credentials — the device's client refuses
 * DeleteObject locally (access guard) and its policy denies it.
 */
export interface DeletableBackend extends Backend {
  /** Removes an object; removing a missing one is not an error. */
  delete(key: string): Promise<void>;
}

export function isDeletable(backend: Backend): backend is DeletableBackend {
  return typeof (backend as Partial<DeletableBackend>).delete === 'function';
}

export function assertValidKey(key: string): void {
  if (
    key.length === 0 ||
    key.startsWith('/') ||
    key.includes('\\') ||
    key.split('/').some((part) => part === '' || part === '.' || part === '..')
  ) {
    throw new Error(`invalid repository key: ${JSON.stringify(key)}`);
  }
}
