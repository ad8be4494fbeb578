/**
 * The repository key's scrypt (~0.1 s), started as a command starts instead of when the
 * repository is opened: the binary calls `warmUpRepositoryKey` before it loads the CLI
 * framework and the SDK, so the derivation runs on libuv's thread pool while the main
 * thread loads modules, and `Repository.open` finds it done (`deriveAhead`).
 *
 * Best effort and silent: it only reads what the open reads anyway (the device config and
 * a local repository's key files), with the passphrase the open would use first
 * (BACKUPCTL_PASSWORD, else the systemd credential), and does nothing when anything is
 * missing or unusual (an S3 repository, a keychain passphrase, a damaged file). The open
 * itself still validates and decides everything, so a wrong passphrase, a bad config or
 * a foreign key file is reported exactly as before. Deliberately free of the config
 * schema, the storage backends and the AWS SDK: this module must load in a millisecond.
 */

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CONFIG_FILE } from '../config/config-file.js';
import { readEnvironment } from '../config/environment.js';
import { deriveAhead, type KdfParams } from '../crypto/keys.js';
import { credentialValue, SYSTEMD_PASSWORD_CREDENTIAL } from '../secrets/secret-store.js';

/** A key file's name: the SHA-256 of its bytes. */
const KEY_NAME = /^[0-9a-f]{64}$/;

/** Repositories have one key file, a few at most; more are not worth deriving ahead. */
const MAX_KEY_FILES = 2;

/**
 * Starts the derivation for the device's repository when it is local and the passphrase
 * comes from the environment or a systemd credential; never throws. The few small files
 * are read synchronously (well under a millisecond): asynchronous reads would wait for the
 * event loop, which the module loading that follows keeps busy for ~0.2 s.
 */
export function warmUpRepositoryKey(env: NodeJS.ProcessEnv = process.env): void {
  try {
    const environment = readEnvironment(env);
    const passphrase = passphraseOf(environment);
    if (!passphrase) return;
    const configText = readFileSync(path.join(environment.configDir, CONFIG_FILE), 'utf8');
    const repository = (JSON.parse(configText) as { repository?: unknown }).repository;
    // Local folders only: an S3 key file is a request, and its client is the SDK.
    if (typeof repository !== 'string' || repository === '' || repository.includes('://')) return;
    const keysDir = path.join(path.resolve(repository), 'keys');
    const names = readdirSync(keysDir).filter((name) => KEY_NAME.test(name));
    if (names.length === 0 || names.length > MAX_KEY_FILES) return;
    for (const name of names) {
      const kdf = kdfOf(readFileSync(path.join(keysDir, name), 'utf8'));
      if (kdf) deriveAhead(passphrase, kdf);
    }
  } catch {
    // Nothing derived ahead: the open derives as it always did.
  }
}

/** The passphrase `resolvePassword` tries first, when it needs no keychain or prompt. */
function passphraseOf(environment: ReturnType<typeof readEnvironment>): string | undefined {
  if (environment.password) return environment.password;
  if (!environment.credentialsDirectory) return undefined;
  try {
    const file = path.join(environment.credentialsDirectory, SYSTEMD_PASSWORD_CREDENTIAL);
    return credentialValue(readFileSync(file, 'utf8')) || undefined;
  } catch {
    return undefined;
  }
}

/** The scrypt parameters of a key file, if it looks like one (the open checks it fully). */
function kdfOf(text: string): KdfParams | undefined {
  const kdf = (JSON.parse(text) as { kdf?: Partial<KdfParams> }).kdf;
  if (kdf?.algorithm !== 'scrypt' || typeof kdf.salt !== 'string') return undefined;
  const { N, r, p } = kdf;
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && (n as number) > 0)) return undefined;
  return { algorithm: 'scrypt', N: N as number, r: r as number, p: p as number, salt: kdf.salt };
}
