/**
 * Retention policy, with restic's semantics (`restic forget --keep-*`): snapshots are
 * walked newest first; each `keep-*` rule has a counter and a bucket function (the hour,
 * day, ISO week, month or year of the snapshot). A snapshot is kept by a rule when its
 * bucket differs from the last one that rule kept, while the counter lasts. When a rule
 * still has counts left at the oldest snapshot, that snapshot is kept too (the longest
 * history the counts allow). `keep-tag` keeps every snapshot holding all tags of one of
 * the lists, without counting. `-1` means unlimited. An empty policy keeps everything.
 *
 * Pure: no clock, no I/O. The calendar is injected (local time by default), so tests
 * pin it to UTC.
 */
export interface RetentionPolicy {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  /** Each entry is a list of tags a snapshot must all hold (`--keep-tag a,b`). */
  tags?: string[][];
}

export interface PolicySnapshot {
  time: string;
  tags: string[];
}

export interface CalendarParts {
  year: number;
  /** 1–12 */
  month: number;
  /** 1–31 */
  day: number;
  hour: number;
}

export type Calendar = (time: Date) => CalendarParts;

export const localCalendar: Calendar = (t) => ({
  year: t.getFullYear(),
  month: t.getMonth() + 1,
  day: t.getDate(),
  hour: t.getHours(),
});

export const utcCalendar: Calendar = (t) => ({
  year: t.getUTCFullYear(),
  month: t.getUTCMonth() + 1,
  day: t.getUTCDate(),
  hour: t.getUTCHours(),
});

export type KeepRule = 'last' | 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';
const RULES: readonly KeepRule[] = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'];

export interface PolicyDecision<T> {
  keep: T[];
  remove: T[];
  /** Why each kept snapshot stays (same order as `keep`). */
  reasons: Array<{ snapshot: T; matches: string[] }>;
}

export function policyIsEmpty(policy: RetentionPolicy): boolean {
  return RULES.every((r) => !policy[r]) && (policy.tags ?? []).length === 0;
}

/** ISO 8601 week: year*100 + week (the week holding the year's first Thursday is 1). */
export function isoWeek(parts: Pick<CalendarParts, 'year' | 'month' | 'day'>): number {
  const date = new Date(Date.UTC(parts.year, parts.month - 1, parts.day));
  const weekday = date.getUTCDay() || 7; // Monday 1 … Sunday 7
  date.setUTCDate(date.getUTCDate() + 4 - weekday); // the Thursday of this week
  const weekYear = date.getUTCFullYear();
  const firstDay = Date.UTC(weekYear, 0, 1);
  const week = Math.ceil(((date.getTime() - firstDay) / 86_400_000 + 1) / 7);
  return weekYear * 100 + week;
}

function bucketOf(rule: KeepRule, p: CalendarParts, nr: number): number {
  switch (rule) {
    case 'last':
      return nr;
    case 'hourly':
      return ((p.year * 100 + p.month) * 100 + p.day) * 100 + p.hour;
    case 'daily':
      return (p.year * 100 + p.month) * 100 + p.day;
    case 'weekly':
      return isoWeek(p);
    case 'monthly':
      return p.year * 100 + p.month;
    case 'yearly':
      return p.year;
  }
}

/** Applies the policy. Input order does not matter; `keep` and `remove` come newest first. */
export function applyPolicy<T extends PolicySnapshot>(
  snapshots: readonly T[],
  policy: RetentionPolicy,
  calendar: Calendar = localCalendar,
): PolicyDecision<T> {
  const list = [...snapshots].sort((a, b) => Date.parse(b.time) - Date.parse(a.time));
  if (policyIsEmpty(policy)) {
    return {
      keep: list,
      remove: [],
      reasons: list.map((snapshot) => ({ snapshot, matches: ['policy is empty'] })),
    };
  }
  const counters = RULES.map((rule) => ({ rule, count: policy[rule] ?? 0, last: Number.NaN }));
  const keep: T[] = [];
  const remove: T[] = [];
  const reasons: PolicyDecision<T>['reasons'] = [];
  list.forEach((snapshot, nr) => {
    const matches: string[] = [];
    for (const tagList of policy.tags ?? []) {
      if (tagList.every((tag) => snapshot.tags.includes(tag))) matches.push(`has tags ${tagList.join(',')}`);
    }
    const parts = calendar(new Date(snapshot.time));
    const oldest = nr === list.length - 1;
    for (const counter of counters) {
      if (counter.count === 0) continue;
      const bucket = bucketOf(counter.rule, parts, nr);
      if (bucket !== counter.last || oldest) {
        matches.push(`${bucket === counter.last ? 'oldest ' : ''}${counter.rule} snapshot`);
        counter.last = bucket;
        if (counter.count > 0) counter.count--;
      }
    }
    if (matches.length > 0) {
      keep.push(snapshot);
      reasons.push({ snapshot, matches });
    } else {
      remove.push(snapshot);
    }
  });
  return { keep, remove, reasons };
}

/** Snapshots are judged per group, as restic's default `--group-by host,paths`. */
export function groupKey(snapshot: { host: string; paths: string[] }): string {
  return JSON.stringify([snapshot.host, [...snapshot.paths].sort()]);
}
