import { type KeyFile, unwrapMasterKey, wrapMasterKey } from '../crypto/index.js';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import { keys, prefixes } from '../repository/format.js';
import { type Repository, sha256Hex } from '../repository/repository.js';
import type { DeletableBackend } from '../storage/backend.js';

export interface KeyListing {
  id: string;
  shortId: string;
  host: string;
  created: string;
  /** The key file whose passphrase opened the repository now. */
  current: boolean;
}

export async function listKeys(repo: Repository): Promise<KeyListing[]> {
  const out: KeyListing[] = [];
  for await (const object of repo.backend.list(prefixes.keys)) {
    const id = object.key.slice(prefixes.keys.length);
    const file = JSON.parse((await repo.backend.get(object.key)).toString()) as KeyFile;
    out.push({
      id,
      shortId: id.slice(0, 8),
      host: file.host,
      created: file.created,
      current: id === repo.keyId,
    });
  }
  return out.sort((a, b) => a.created.localeCompare(b.created));
}

export interface AddKeyOptions {
  host: string;
  /** scrypt parameters (tests use small ones). */
  kdf?: { N: number; r: number; p: number };
}

/**
 * Adds a key file: the same master key wrapped by another passphrase. It is read back and
 * opened with the new passphrase before this returns, so a key that reports success works.
 */
export async function addKey(
  repo: Repository,
  passphrase: string,
  options: AddKeyOptions,
): Promise<KeyListing> {
  if (!passphrase) {
    throw new BackupctlError(ErrorCodes.usage, 'the new passphrase is empty', {
      resolution: 'Give a non-empty passphrase.',
    });
  }
  const file = await wrapMasterKey(repo.master, passphrase, options.host, options.kdf);
  const bytes = Buffer.from(JSON.stringify(file));
  const id = sha256Hex(bytes);
  await repo.backend.putIfAbsent(keys.keyFile(id), bytes);
  const stored = JSON.parse((await repo.backend.get(keys.keyFile(id))).toString()) as KeyFile;
  const opened = await unwrapMasterKey(stored, passphrase);
  if (!opened.encryption.equals(repo.master.encryption) || !opened.id.equals(repo.master.id)) {
    throw new BackupctlError(ErrorCodes.integrity, `the new key file ${id} does not read back`, {
      source: 'environment',
      resolution: 'Nothing was removed; the old passphrase still works. Try again.',
    });
  }
  return { id, shortId: id.slice(0, 8), host: file.host, created: file.created, current: false };
}

/**
 * Removes a key file. Never the one that opened the repository (the passphrase in use),
 * unless `replacedBy` names its verified replacement, and never the last one: access is never lost.
 */
export async function removeKey(
  repo: Repository,
  backend: DeletableBackend,
  id: string,
  options: { replacedBy?: string } = {},
): Promise<string> {
  const all = await listKeys(repo);
  const matches = all.filter((k) => k.id.startsWith(id));
  if (id.length < 4 || matches.length !== 1) {
    throw new BackupctlError(
      ErrorCodes.usage,
      matches.length > 1 ? `key id ${id} is ambiguous` : `no key ${id}`,
      {
        resolution: 'List them with `backupctl key list`; give at least 4 characters of an id.',
      },
    );
  }
  const key = matches[0]!;
  // `key passwd` removes the current key, once its replacement has been verified.
  const replaced = options.replacedBy !== undefined && all.some((k) => k.id === options.replacedBy);
  if ((key.current && !replaced) || all.length < 2 || key.id === options.replacedBy) {
    throw new BackupctlError(
      ErrorCodes.usage,
      key.current
        ? `key ${key.shortId} is the one this passphrase opens: removing it could lock you out`
        : 'it is the only key file',
      { resolution: 'Open the repository with another key’s passphrase to remove this one.' },
    );
  }
  await backend.delete(keys.keyFile(key.id));
  return key.id;
}
