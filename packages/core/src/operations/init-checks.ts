import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CONFIG_FILE } from '../config/device-config.js';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import { isS3Repository } from '../storage/open-backend.js';

/** The shortest passphrase `init` accepts, from a prompt or from BACKUPCTL_PASSWORD. */
export const MIN_PASSPHRASE_LENGTH = 8;

/** Refuses a passphrase shorter than {@link MIN_PASSPHRASE_LENGTH} characters, wherever it came from. */
export function checkPassphrase(password: string, source: 'prompt' | 'environment'): void {
  if ([...password].length >= MIN_PASSPHRASE_LENGTH) return;
  throw new BackupctlError(
    ErrorCodes.usage,
    `the passphrase${source === 'environment' ? ' in BACKUPCTL_PASSWORD' : ''} is too short: it must have at least ${MIN_PASSPHRASE_LENGTH} characters`,
    {
      resolution:
        source === 'environment'
          ? `Set BACKUPCTL_PASSWORD to a passphrase of ${MIN_PASSPHRASE_LENGTH} characters or more.`
          : `Choose a passphrase of ${MIN_PASSPHRASE_LENGTH} characters or more.`,
    },
  );
}

/**
 * A path that starts with `~` reached the program literally: the shell did not expand it
 * (it was quoted, or written `--path=~/x`). Taken as is it would name a folder called `~`
 * in the current directory.
 */
function refuseLiteralTilde(flag: string, value: string): void {
  if (!/^~[\w.-]*(\/|$)/.test(value)) return;
  const example = value.startsWith('~/') || value === '~' ? `"$HOME${value.slice(1)}"` : 'an absolute path';
  throw new BackupctlError(
    ErrorCodes.usage,
    `${flag} "${value}" starts with a literal "~" (the shell did not expand it)`,
    {
      resolution: `Write ${flag} ${example}, or leave the ~ unquoted after a space (${flag} ~/…) so that the shell expands it.`,
    },
  );
}

export interface InitPreflight {
  configDir: string;
  repository: string;
  paths?: string[];
  /** Overwrite an existing device config. */
  force?: boolean;
  /**
   * A re-run on the same repository resumes instead of being refused (`init --bucket`:
   * every step is idempotent, and a re-run after a failure or a change of guard settings
   * is how the guard is brought up to date).
   */
  resumable?: boolean;
}

const sameRepository = (a: string, b: string) => a.replace(/\/+$/, '') === b.replace(/\/+$/, '');

/**
 * What `init` checks before it asks for anything (passphrase, keychain): the device is not
 * set up already (unless `force`), no path has a literal `~`, and every `--path` exists.
 * Throws USAGE (exit 2) saying what is wrong and what to do.
 */
export async function checkInit(options: InitPreflight): Promise<void> {
  if (!isS3Repository(options.repository)) refuseLiteralTilde('--repo', options.repository);
  for (const p of options.paths ?? []) refuseLiteralTilde('--path', p);
  if (!options.force) {
    const file = path.join(options.configDir, CONFIG_FILE);
    let existing: string | undefined;
    try {
      existing = await fs.readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    let repository: string | undefined;
    try {
      repository =
        existing === undefined ? undefined : (JSON.parse(existing) as { repository?: string }).repository;
    } catch {
      // An unreadable config is still a config: refuse the same way.
    }
    const resumes =
      options.resumable === true &&
      repository !== undefined &&
      sameRepository(repository, options.repository);
    if (existing !== undefined && !resumes) {
      throw new BackupctlError(
        ErrorCodes.usage,
        `this device is already set up: ${file} exists${repository ? ` (repository ${repository})` : ''}`,
        {
          resolution:
            'Nothing was changed. To set it up again (the old config is replaced; the repository and its snapshots are kept), run `backupctl init` again with --force.',
          details: { configFile: file, ...(repository ? { repository } : {}) },
        },
      );
    }
  }
  const missing: string[] = [];
  for (const p of options.paths ?? []) {
    try {
      await fs.stat(p);
    } catch {
      missing.push(p);
    }
  }
  if (missing.length > 0) {
    throw new BackupctlError(
      ErrorCodes.usage,
      `--path ${missing.map((p) => `"${p}"`).join(', ')} ${missing.length === 1 ? 'does' : 'do'} not exist`,
      {
        resolution:
          'Give paths that exist (files or folders push should back up), then run `backupctl init` again.',
        details: { missing: missing.map((p) => path.resolve(p)) },
      },
    );
  }
}
