import { randomBytes } from 'node:crypto';
import { DEFAULT_CHUNKER_PARAMS } from '../chunk/fastcdc.js';
import { type KeyFile, unwrapMasterKey } from '../crypto/index.js';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import { DEFAULT_PACK_SIZE, FORMAT_VERSION, keys, prefixes, type RepoConfig } from '../repository/format.js';
import { Repository } from '../repository/repository.js';
import { verifyObject } from '../repository/verify-object.js';
import type { Backend } from '../storage/backend.js';

export interface RepairConfigResult {
  config: RepoConfig;
  /** The key file the passphrase opened: proof the repository is the one this passphrase belongs to. */
  keyFile: string;
  packs: number;
  snapshots: number;
}

/**
 * Rebuilds a lost `config` object. Everything else describes itself: key files hold the
 * wrapped master key, packs carry their own headers, snapshots and index files are
 * encrypted with that key. What `config` adds — an id (for the local cache folder), the
 * chunker parameters and the pack size — only steers new writes, so defaults are safe:
 * every existing snapshot stays restorable; a new push may deduplicate less against old data.
 *
 * Refuses unless the passphrase opens a key file of this repository (so a config is never
 * written over someone else's objects), and writes create-only (never replaces a config).
 */
export async function repairConfig(backend: Backend, passphrase: string): Promise<RepairConfigResult> {
  if (await backend.stat(keys.config)) {
    throw new BackupctlError(
      ErrorCodes.repoExists,
      `the repository at ${backend.location} has its config: nothing to repair`,
      {
        resolution: 'Run `backupctl check --read-data` to look for other damage.',
      },
    );
  }
  let opened: { key: string; file: KeyFile } | undefined;
  let keyFiles = 0;
  for await (const object of backend.list(prefixes.keys)) {
    keyFiles++;
    try {
      const bytes = await backend.get(object.key);
      verifyObject(object.key, bytes);
      const file = JSON.parse(bytes.toString()) as KeyFile;
      await unwrapMasterKey(file, passphrase);
      opened = { key: object.key, file };
      break;
    } catch (error) {
      // A foreign, damaged or other-passphrase key file is passed over; a storage failure is not.
      const passOver =
        error instanceof SyntaxError ||
        (BackupctlError.is(error) &&
          (error.code === ErrorCodes.integrity || error.code === ErrorCodes.wrongPassword));
      if (!passOver) throw error;
    }
  }
  if (!opened) {
    throw new BackupctlError(
      keyFiles === 0 ? ErrorCodes.repoNotFound : ErrorCodes.wrongPassword,
      keyFiles === 0
        ? `no key file at ${backend.location}: there is no repository here to repair`
        : `the passphrase opens none of the ${keyFiles} key file(s) at ${backend.location}`,
      {
        resolution:
          keyFiles === 0
            ? 'Check the location; to start a new repository use `backupctl init`.'
            : "Give this repository's passphrase (BACKUPCTL_PASSWORD or the prompt).",
      },
    );
  }
  const config: RepoConfig = {
    version: FORMAT_VERSION,
    id: randomBytes(16).toString('hex'),
    created: opened.file.created,
    chunker: { ...DEFAULT_CHUNKER_PARAMS },
    packSize: DEFAULT_PACK_SIZE,
  };
  if ((await backend.putIfAbsent(keys.config, Buffer.from(JSON.stringify(config, null, 2)))) === 'exists') {
    throw new BackupctlError(
      ErrorCodes.repoExists,
      `a config appeared at ${backend.location} meanwhile: nothing written`,
    );
  }
  // Prove the result opens, and count what it holds.
  const repo = await Repository.open(backend, passphrase);
  let packs = 0;
  for await (const _ of backend.list(prefixes.data)) packs++;
  const snapshots = (await repo.listSnapshots()).length;
  return { config, keyFile: opened.key, packs, snapshots };
}
