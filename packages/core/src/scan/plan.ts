import { promises as fs } from 'node:fs';
import path from 'node:path';
import { type ExcludeReason, IGNORE_FILE, WalkFilter, type WalkFilterOptions } from './walk-filter.js';

export interface PushPlan {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  excluded: Record<ExcludeReason, number>;
  /** Paths that cannot be read (a push would warn and skip them). */
  unreadable: string[];
}

export interface PushPlanEvents {
  /** Each path a push would back up (`push --dry-run --verbose`), or leave out. */
  onEntry?(
    entry: { path: string; type: 'file' | 'dir' | 'symlink' } | { path: string; excluded: ExcludeReason },
  ): void;
}

/**
 * `push --dry-run`: walks the paths with exactly the push's filter (same WalkFilter) and
 * counts what a push would read. It opens no repository and makes no request.
 */
export async function planPush(
  roots: string[],
  options: WalkFilterOptions,
  events: PushPlanEvents = {},
): Promise<PushPlan> {
  const filter = new WalkFilter(roots, options);
  const plan: PushPlan = {
    files: 0,
    dirs: 0,
    symlinks: 0,
    bytes: 0,
    excluded: { pattern: 0, 'ignore-file': 0, 'cache-dir': 0, 'other-file-system': 0 },
    unreadable: [],
  };
  const visit = async (p: string): Promise<void> => {
    let stat: import('node:fs').Stats;
    try {
      stat = await fs.lstat(p);
    } catch {
      plan.unreadable.push(p);
      return;
    }
    const reason = await filter.excludes(p, stat);
    if (reason) {
      plan.excluded[reason]++;
      events.onEntry?.({ path: p, excluded: reason });
      return;
    }
    if (stat.isDirectory()) {
      plan.dirs++;
      events.onEntry?.({ path: p, type: 'dir' });
      let names: string[];
      try {
        names = (await fs.readdir(p)).sort();
      } catch {
        plan.unreadable.push(p);
        return;
      }
      await filter.enterDir(p, names.includes(IGNORE_FILE));
      for (const name of names) await visit(path.join(p, name));
    } else if (stat.isSymbolicLink()) {
      plan.symlinks++;
      events.onEntry?.({ path: p, type: 'symlink' });
    } else if (stat.isFile()) {
      plan.files++;
      plan.bytes += stat.size;
      events.onEntry?.({ path: p, type: 'file' });
    }
  };
  for (const root of roots) await visit(root);
  return plan;
}
