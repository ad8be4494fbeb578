import type { RepoCache } from '../cache/repo-cache.js';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import { keys } from '../repository/format.js';
import type { Repository } from '../repository/repository.js';
import {
  applyPolicy,
  type Calendar,
  groupKey,
  localCalendar,
  policyIsEmpty,
  type RetentionPolicy,
} from '../retention/policy.js';
import { isDeletable } from '../storage/backend.js';
import type { SnapshotWithId } from './find-snapshot.js';
import { matchesFilter, type SnapshotFilter } from './snapshots.js';

export interface ForgetOptions {
  policy: RetentionPolicy;
  /** Only snapshots matching this filter are considered (the others are kept). */
  filter?: SnapshotFilter;
  dryRun?: boolean;
  /** Which calendar decides hours, days, weeks (default: this machine's local time). */
  calendar?: Calendar;
}

export interface ForgetSnapshot {
  id: string;
  shortId: string;
  time: string;
  host: string;
  paths: string[];
  tags: string[];
  /** Why it is kept (empty for removed snapshots). */
  reasons: string[];
}

export interface ForgetGroup {
  host: string;
  paths: string[];
  keep: ForgetSnapshot[];
  remove: ForgetSnapshot[];
}

export interface ForgetResult {
  dryRun: boolean;
  groups: ForgetGroup[];
  /** Snapshot ids deleted (none with `dryRun`). */
  removed: string[];
}

export interface ForgetEvents {
  onRemoved?(snapshot: ForgetSnapshot): void;
}

/**
 * Removes the snapshots a retention policy does not keep, per group of host and paths
 * (restic's default grouping). Only snapshot objects are deleted: the data they alone
 * referenced stays until `prune` removes it. Each deletion is one object, so a crash
 * leaves either the snapshot or nothing — never a broken one.
 */
export async function forget(
  repo: Repository,
  cache: RepoCache | undefined,
  options: ForgetOptions,
  events: ForgetEvents = {},
): Promise<ForgetResult> {
  if (policyIsEmpty(options.policy)) {
    throw new BackupctlError(ErrorCodes.usage, 'no retention rule given: forget would keep everything', {
      resolution:
        'Give at least one of --keep-last, --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly, --keep-tag.',
    });
  }
  const backend = repo.backend;
  if (!options.dryRun && !isDeletable(backend)) {
    throw new BackupctlError(
      ErrorCodes.adminRequired,
      `${backend.location} cannot delete with these credentials`,
      {
        resolution: 'Run forget with the owner’s admin credentials.',
      },
    );
  }
  const all = (await repo.listSnapshots(cache)).filter((s) => matchesFilter(s, options.filter));
  const byGroup = new Map<string, SnapshotWithId[]>();
  for (const snapshot of all) {
    const key = groupKey(snapshot);
    byGroup.set(key, [...(byGroup.get(key) ?? []), snapshot]);
  }
  const groups: ForgetGroup[] = [];
  for (const members of byGroup.values()) {
    const decision = applyPolicy(members, options.policy, options.calendar ?? localCalendar);
    const reasons = new Map(decision.reasons.map((r) => [r.snapshot.id, r.matches]));
    const view = (s: SnapshotWithId): ForgetSnapshot => ({
      id: s.id,
      shortId: s.id.slice(0, 8),
      time: s.time,
      host: s.host,
      paths: s.paths,
      tags: s.tags,
      reasons: reasons.get(s.id) ?? [],
    });
    const first = members[0]!;
    groups.push({
      host: first.host,
      paths: first.paths,
      keep: decision.keep.map(view),
      remove: decision.remove.map(view),
    });
  }
  const removed: string[] = [];
  if (!options.dryRun && isDeletable(backend)) {
    for (const group of groups) {
      for (const snapshot of group.remove) {
        await backend.delete(keys.snapshot(snapshot.id));
        await cache?.remove(keys.snapshot(snapshot.id));
        removed.push(snapshot.id);
        events.onRemoved?.(snapshot);
      }
    }
  }
  return { dryRun: Boolean(options.dryRun), groups, removed };
}
