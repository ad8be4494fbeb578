import { createHash } from 'node:crypto';
import { BackupctlError, ErrorCodes } from '../errors/index.js';

/**
 * The one place where a repository object is checked against its name. Every object but
 * `config` is stored under the SHA-256 of its stored bytes (`keys/<h>`, `index/<h>`,
 * `snapshots/<h>`, `prune/<h>`, `data/<h[0:2]>/<h>`), so a read can prove it got the object its name
 * promises: a damaged copy, a foreign object, or an older valid object copied under a
 * newer name (a silent rollback) all fail here, before anything decrypts or parses them.
 */
export type ObjectKind = 'key' | 'index' | 'snapshot' | 'prune' | 'pack' | 'config';

const HASH = /^[0-9a-f]{64}$/;

export function objectKind(key: string): ObjectKind | undefined {
  if (key === 'config') return 'config';
  if (key.startsWith('keys/')) return 'key';
  if (key.startsWith('index/')) return 'index';
  if (key.startsWith('snapshots/')) return 'snapshot';
  if (key.startsWith('prune/')) return 'prune';
  if (key.startsWith('data/')) return 'pack';
  return undefined;
}

/** The hash an object's key promises, or undefined when the key names none (`config`). */
export function expectedHash(key: string): string | undefined {
  if (key === 'config') return undefined;
  return key.slice(key.lastIndexOf('/') + 1);
}

/** Why an object fails its name, or undefined when it is what its name says. */
export function objectNameProblem(key: string, bytes: Uint8Array): string | undefined {
  const kind = objectKind(key);
  if (kind === 'config') return undefined;
  const name = expectedHash(key) ?? '';
  if (!kind || !HASH.test(name)) return 'its name is not a SHA-256 hash: it is not a backupctl object';
  if (kind === 'pack' && key !== `data/${name.slice(0, 2)}/${name}`) {
    return 'it is filed under the wrong folder';
  }
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== name) {
    return 'its contents do not match its name (damaged, replaced, or an older object under a newer name)';
  }
  return undefined;
}

/** Throws an INTEGRITY error naming the object when it is not what its name says. */
export function verifyObject(key: string, bytes: Uint8Array): void {
  const problem = objectNameProblem(key, bytes);
  if (problem) {
    throw new BackupctlError(ErrorCodes.integrity, `${key}: ${problem}`, {
      source: 'environment',
      details: { key, kind: objectKind(key) ?? 'unknown' },
      resolution: 'Run `backupctl check --read-data` to see the extent of the damage.',
    });
  }
}
