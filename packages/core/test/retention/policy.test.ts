import { describe, expect, it } from 'vitest';
import { applyPolicy, isoWeek, type RetentionPolicy, utcCalendar } from '../../src/retention/policy.js';

// The snapshot set of restic's TestApplyPolicy (internal/restic/snapshot_policy_test.go),
// re-created: times in UTC, some tagged, three identical times on 2015-10-22.
const u = (s: string, tags: string[] = [], paths: string[] = []) => ({
  time: `${s.replace(' ', 'T')}Z`,
  tags,
  paths,
});
const foo = ['foo'];
const SNAPSHOTS = [
  ...['09-01', '09-02', '09-05', '09-06', '09-08', '09-09', '09-10', '09-11', '09-20', '09-22'].map((d) =>
    u(`2014-${d} 10:20:30`),
  ),
  ...['08-08', '08-10', '08-12', '08-13'].map((d) => u(`2014-${d} 10:20:30`)),
  u('2014-08-13 10:20:30.1'),
  ...['08-15', '08-18', '08-20', '08-21', '08-22'].map((d) => u(`2014-${d} 10:20:30`)),
  ...['10-01', '10-02', '10-05', '10-06', '10-08', '10-09', '10-10', '10-11', '10-20', '10-22'].map((d) =>
    u(`2014-${d} 10:20:30`, foo),
  ),
  ...['11-08', '11-10', '11-12', '11-13'].map((d) => u(`2014-${d} 10:20:30`, foo)),
  u('2014-11-13 10:20:30.1', ['bar']),
  u('2014-11-15 10:20:30', ['foo', 'bar']),
  ...['11-18', '11-20', '11-21', '11-22'].map((d) => u(`2014-${d} 10:20:30`)),
  ...['09-01', '09-02', '09-05', '09-06', '09-08', '09-09', '09-10', '09-11', '09-20', '09-22'].map((d) =>
    u(`2015-${d} 10:20:30`),
  ),
  ...['08-08', '08-10', '08-12', '08-13'].map((d) => u(`2015-${d} 10:20:30`)),
  u('2015-08-13 10:20:30.1'),
  ...['08-15', '08-18', '08-20', '08-21', '08-22'].map((d) => u(`2015-${d} 10:20:30`)),
  ...['10-01', '10-02', '10-05', '10-06', '10-08', '10-09', '10-10', '10-11', '10-20', '10-22', '10-22'].map(
    (d) => u(`2015-${d} 10:20:30`),
  ),
  u('2015-10-22 10:20:30', ['foo', 'bar']),
  u('2015-10-22 10:20:30', ['foo', 'bar']),
  u('2015-10-22 10:20:30', ['foo', 'bar'], ['path1', 'path2']),
  ...['11-08', '11-10', '11-12', '11-13'].map((d) => u(`2015-${d} 10:20:30`)),
  u('2015-11-13 10:20:30.1'),
  ...['11-15', '11-18', '11-20', '11-21', '11-22'].map((d) => u(`2015-${d} 10:20:30`)),
  ...[
    '01-01 01:02:03',
    '01-01 01:03:03',
    '01-01 07:08:03',
    '01-03 07:02:03',
    '01-04 10:23:03',
    '01-04 11:23:03',
    '01-04 12:23:03',
    '01-04 12:24:03',
    '01-04 12:28:03',
    '01-04 12:30:03',
    '01-04 16:23:03',
    '01-05 09:02:03',
    '01-06 08:02:03',
    '01-07 10:02:03',
    '01-08 20:02:03',
    '01-09 21:02:03',
    '01-12 21:02:03',
    '01-12 21:08:03',
    '01-18 12:02:03',
  ].map((d) => u(`2016-${d}`)),
];

const kept = (policy: RetentionPolicy) =>
  applyPolicy(SNAPSHOTS, policy, utcCalendar).keep.map((s) => s.time.replace('.1Z', '.1').replace('Z', ''));
const t = (s: string) => s.replace(' ', 'T');

describe('applyPolicy on restic’s snapshot set (fake clock: UTC calendar)', () => {
  it('has the 103 snapshots of the set', () => expect(SNAPSHOTS).toHaveLength(103));

  it('an empty policy keeps everything', () => {
    const d = applyPolicy(SNAPSHOTS, {}, utcCalendar);
    expect(d.keep).toHaveLength(103);
    expect(d.remove).toHaveLength(0);
  });

  it('keep-last 10 keeps the ten newest, keep-last 200 keeps all', () => {
    expect(kept({ last: 10 })).toEqual(
      [
        '2016-01-18 12:02:03',
        '2016-01-12 21:08:03',
        '2016-01-12 21:02:03',
        '2016-01-09 21:02:03',
        '2016-01-08 20:02:03',
        '2016-01-07 10:02:03',
        '2016-01-06 08:02:03',
        '2016-01-05 09:02:03',
        '2016-01-04 16:23:03',
        '2016-01-04 12:30:03',
      ].map(t),
    );
    expect(kept({ last: 200 })).toHaveLength(103);
  });

  it('keep-last 5 keep-daily 5 (restic golden file 9)', () => {
    expect(kept({ last: 5, daily: 5 })).toEqual(
      [
        '2016-01-18 12:02:03',
        '2016-01-12 21:08:03',
        '2016-01-12 21:02:03',
        '2016-01-09 21:02:03',
        '2016-01-08 20:02:03',
        '2016-01-07 10:02:03',
      ].map(t),
    );
  });

  it('keep-weekly 4 uses ISO weeks: Sunday 2016-01-03 is week 53 of 2015 (golden file 12)', () => {
    expect(kept({ weekly: 4 })).toEqual(
      ['2016-01-18 12:02:03', '2016-01-12 21:08:03', '2016-01-09 21:02:03', '2016-01-03 07:02:03'].map(t),
    );
    expect(kept({ daily: 3, weekly: 4 })).toEqual(kept({ weekly: 4 }));
  });

  it('keep-hourly 3 keeps one per hour, the newest of each hour', () => {
    expect(kept({ hourly: 3 })).toEqual(
      ['2016-01-18 12:02:03', '2016-01-12 21:08:03', '2016-01-09 21:02:03'].map(t),
    );
  });

  it('keep-yearly 10: one per year, and the oldest because counts are left (golden 16 + restic ≥0.14 rule)', () => {
    expect(kept({ yearly: 10 })).toEqual(
      ['2016-01-18 12:02:03', '2015-11-22 10:20:30', '2014-11-22 10:20:30', '2014-08-08 10:20:30'].map(t),
    );
    const d = applyPolicy(SNAPSHOTS, { yearly: 10 }, utcCalendar);
    expect(d.reasons.at(-1)?.matches).toEqual(['oldest yearly snapshot']);
  });

  it('keep-daily 7 weekly 2 monthly 3 yearly 10 (golden file 17)', () => {
    expect(kept({ daily: 7, weekly: 2, monthly: 3, yearly: 10 })).toEqual(
      [
        '2016-01-18 12:02:03',
        '2016-01-12 21:08:03',
        '2016-01-09 21:02:03',
        '2016-01-08 20:02:03',
        '2016-01-07 10:02:03',
        '2016-01-06 08:02:03',
        '2016-01-05 09:02:03',
        '2015-11-22 10:20:30',
        '2015-10-22 10:20:30',
        '2014-11-22 10:20:30',
        '2014-08-08 10:20:30',
      ].map(t),
    );
  });

  it('keep-tag foo / keep-tag foo,bar / keep-tag foo + keep-tag bar (golden files 18–20)', () => {
    const withAll = (lists: string[][]) =>
      SNAPSHOTS.filter((s) => lists.some((l) => l.every((tag) => s.tags.includes(tag)))).length;
    expect(applyPolicy(SNAPSHOTS, { tags: [['foo']] }, utcCalendar).keep).toHaveLength(withAll([['foo']]));
    expect(withAll([['foo']])).toBe(18);
    expect(applyPolicy(SNAPSHOTS, { tags: [['foo', 'bar']] }, utcCalendar).keep).toHaveLength(4);
    const either = applyPolicy(SNAPSHOTS, { tags: [['foo'], ['bar']] }, utcCalendar);
    expect(either.keep).toHaveLength(19);
    expect(either.keep.at(-1)?.time).toBe('2014-10-01T10:20:30Z');
    expect(either.remove.every((s) => s.tags.length === 0)).toBe(true);
  });

  it('splits every snapshot into keep or remove, and the input order does not matter', () => {
    const policy = { daily: 10, monthly: 6 };
    const a = applyPolicy(SNAPSHOTS, policy, utcCalendar);
    const b = applyPolicy([...SNAPSHOTS].reverse(), policy, utcCalendar);
    expect(a.keep.length + a.remove.length).toBe(103);
    expect(b.keep.map((s) => s.time)).toEqual(a.keep.map((s) => s.time));
  });

  it('the calendar decides the day: local midnight differs from UTC midnight', () => {
    const two = [u('2020-03-01 23:30:00'), u('2020-03-02 00:30:00')];
    expect(applyPolicy(two, { daily: 5 }, utcCalendar).keep).toHaveLength(2);
    // UTC+2: both are on 2020-03-02.
    const plusTwo = (d: Date) => utcCalendar(new Date(d.getTime() + 2 * 3_600_000));
    const d = applyPolicy(two, { daily: 1 }, plusTwo);
    expect(d.keep.map((s) => s.time)).toEqual(['2020-03-02T00:30:00Z']);
  });

  it('isoWeek matches ISO 8601 at year boundaries', () => {
    expect(isoWeek({ year: 2016, month: 1, day: 3 })).toBe(201553);
    expect(isoWeek({ year: 2016, month: 1, day: 4 })).toBe(201601);
    expect(isoWeek({ year: 2014, month: 12, day: 29 })).toBe(201501);
    expect(isoWeek({ year: 2020, month: 12, day: 31 })).toBe(202053);
  });
});
