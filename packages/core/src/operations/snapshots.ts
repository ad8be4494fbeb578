import type { RepoCache } from '../cache/repo-cache.js';
import type { Repository } from '../repository/repository.js';
import type { SnapshotWithId } from './find-snapshot.js';

export interface SnapshotListing {
  id: string;
  shortId: string;
  time: string;
  host: string;
  paths: string[];
  tags: string[];
  summary: SnapshotWithId['summary'];
}

/**
 * Which snapshots an operation looks at, as restic's filters: any of the `hosts`; for
 * `tags`, each entry is a list that must all be present and any entry may match
 * (`--tag a,b --tag c` = (a and b) or c); every one of `paths` among the snapshot's paths.
 */
export interface SnapshotFilter {
  hosts?: string[];
  tags?: string[][];
  paths?: string[];
}

export function matchesFilter(
  snapshot: { host: string; tags: string[]; paths: string[] },
  filter: SnapshotFilter = {},
): boolean {
  if (filter.hosts?.length && !filter.hosts.includes(snapshot.host)) return false;
  if (filter.tags?.length && !filter.tags.some((list) => list.every((t) => snapshot.tags.includes(t))))
    return false;
  if (filter.paths?.length && !filter.paths.every((p) => snapshot.paths.includes(p))) return false;
  return true;
}

export async function listSnapshots(
  repo: Repository,
  cache?: RepoCache,
  filter: SnapshotFilter = {},
): Promise<SnapshotListing[]> {
  return (await repo.listSnapshots(cache))
    .filter((s) => matchesFilter(s, filter))
    .map((s) => ({
      id: s.id,
      shortId: s.id.slice(0, 8),
      time: s.time,
      host: s.host,
      paths: s.paths,
      tags: s.tags,
      summary: s.summary,
    }));
}
