import type { Environment, LastRun } from '@backupctl/core';
import { BackupctlError, errorMessage } from '@backupctl/core';
import {
  type Exec,
  exec,
  type InstalledSchedule,
  loadSchedule,
  type TimerState,
  timerState,
} from './systemd.js';

export interface ScheduleReport {
  installed: boolean;
  scope?: InstalledSchedule['scope'];
  onCalendar?: string;
  intervalSeconds?: number;
  credentials?: InstalledSchedule['credentials'];
  unitDirectory?: string;
  /** What systemd says now (absent when it could not be asked). */
  timer?: TimerState;
  timerError?: { code: string; message: string };
  /** When the last push that wrote a snapshot finished (from this device's state). */
  lastSuccess?: string;
  /** The last successful push is older than twice the schedule's interval. */
  overdue: boolean;
}

/** The schedule as recorded at install, what systemd says about it now, and whether it is late. */
export async function scheduleReport(
  env: Environment,
  lastPush: LastRun | undefined,
  now = Date.now(),
  run: Exec = exec,
): Promise<ScheduleReport> {
  const installed = await loadSchedule(env.configDir);
  const lastSuccess = lastPush?.lastSuccess ?? (lastPush?.snapshotId ? lastPush.finished : undefined);
  const report: ScheduleReport = { installed: installed !== undefined, overdue: false };
  if (lastSuccess) report.lastSuccess = lastSuccess;
  if (!installed) return report;
  Object.assign(report, {
    scope: installed.scope,
    onCalendar: installed.onCalendar,
    credentials: installed.credentials,
    unitDirectory: installed.unitDirectory,
    ...(installed.intervalSeconds ? { intervalSeconds: installed.intervalSeconds } : {}),
  });
  try {
    report.timer = await timerState(installed.scope, run);
  } catch (error) {
    report.timerError = {
      code: BackupctlError.is(error) ? error.code : 'INTERNAL',
      message: errorMessage(error),
    };
  }
  if (installed.intervalSeconds) {
    const since = lastSuccess ?? installed.installed;
    report.overdue = now - new Date(since).getTime() > 2 * installed.intervalSeconds * 1000;
  }
  return report;
}

/** The warning `status` and `schedule status` print when the schedule is late. */
export function overdueWarning(report: ScheduleReport): string | undefined {
  if (!report.overdue || !report.intervalSeconds) return undefined;
  const hours = (report.intervalSeconds * 2) / 3600;
  const span = hours >= 1 ? `${Number(hours.toFixed(1))} h` : `${Math.round(hours * 60)} min`;
  return report.lastSuccess
    ? `the last successful push is older than twice the schedule (${span}): see \`backupctl schedule status\` and the journal`
    : `no successful push since the schedule was installed, more than ${span} ago: see \`backupctl schedule status\` and the journal`;
}
