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

export async function listSnapshots(repo: Repository, cache?: RepoCache): Promise<SnapshotListing[]> {
  return (await repo.listSnapshots(cache)).map((s) => ({
    id: s.id,
    shortId: s.id.slice(0, 8),
    time: s.time,
    host: s.host,
    paths: s.paths,
    tags: s.tags,
    summary: s.summary,
  }));
}
