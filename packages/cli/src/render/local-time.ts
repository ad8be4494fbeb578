/**
 * A time as people read it here: local date and time with the UTC offset, e.g.
 * `2026-01-10 13:05:09 +01:00` (restic's snapshot listing shows local time too).
 */
export function localTime(iso: string, offsetMinutes?: number): string {
  const date = new Date(iso);
  // getTimezoneOffset is minutes *behind* UTC; the displayed offset is ahead of it.
  const offset = offsetMinutes ?? -date.getTimezoneOffset();
  const shifted = new Date(date.getTime() + offset * 60_000);
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  const zone = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  return `${shifted.toISOString().slice(0, 19).replace('T', ' ')} ${zone}`;
}
