import type { RepoCache } from '../cache/repo-cache.js';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import type { Snapshot } from '../repository/format.js';
import type { Repository } from '../repository/repository.js';

export type SnapshotWithId = Snapshot & { id: string };

/** `latest`, a full id, or a unique id prefix of at least 4 characters. */
export async function findSnapshot(
  repo: Repository,
  cache: RepoCache | undefined,
  ref: string,
): Promise<SnapshotWithId> {
  const all = await repo.listSnapshots(cache);
  if (ref === 'latest') {
    const latest = all.at(-1);
    if (!latest) {
      throw new BackupctlError(ErrorCodes.snapshotNotFound, 'the repository has no snapshot yet', {
        resolution: 'Run `backupctl push` first.',
      });
    }
    return latest;
  }
  const matches = ref.length >= 4 ? all.filter((s) => s.id.startsWith(ref)) : [];
  if (matches.length === 1) return matches[0]!;
  throw new BackupctlError(
    ErrorCodes.snapshotNotFound,
    matches.length > 1 ? `snapshot id ${ref} is ambiguous` : `no snapshot ${ref}`,
    { resolution: 'List them with `backupctl snapshots`; give `latest`, or at least 4 characters of an id.' },
  );
}
