import { BackupctlError, ErrorCodes } from '@backupctl/core';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `90m`, `24h`, `2d`, `1d12h`, `0`: a duration in milliseconds. */
export function parseDuration(text: string, flag: string): number {
  if (text.trim() === '0') return 0;
  const parts = [...text.trim().matchAll(/(\d+)([smhdw])/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text.trim()) {
    throw new BackupctlError(ErrorCodes.usage, `${flag}: "${text}" is not a duration`, {
      resolution: 'Write it like 24h, 2d, 90m or 1d12h.',
    });
  }
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * UNITS[unit!]!, 0);
}
