import type { BigIntStats } from 'node:fs';

/** A folder made ours: `fresh` when this restore created it (so it was empty). */
export interface ReadyFolder {
  fresh: boolean;
  /** The owner a file created in it gets (so a matching chown can be skipped). */
  owner: { uid: number; gid: number } | undefined;
}

/**
 * Who owns a file created in a folder with these stats: the process's effective user, and
 * its group — or the folder's group where the folder is setgid (Linux) or always (BSD, macOS).
 */
export function createdOwner(dir: BigIntStats): { uid: number; gid: number } | undefined {
  if (typeof process.geteuid !== 'function' || typeof process.getegid !== 'function') return undefined;
  const setgid = (dir.mode & 0o2000n) !== 0n;
  const gid = process.platform === 'linux' && !setgid ? process.getegid() : Number(dir.gid);
  return { uid: process.geteuid(), gid };
}
