import { loadLastRun } from '@backupctl/core';
import { BaseCommand } from '../../base-command.js';
import { ExitCodeMeaning } from '../../exit-codes.js';
import { formatWhen } from '../../render/format.js';
import { overdueWarning, type ScheduleReport, scheduleReport } from '../../schedule/report.js';

export default class ScheduleStatus extends BaseCommand {
  static override summary = 'Show the timer: schedule, next run, last run with its result and exit code.';
  static override description =
    'Asks systemd (`systemctl show`) about backupctl-push.timer and its service. Warns when the last successful push is older than twice the schedule.';
  static override examples = [
    '<%= config.bin %> schedule status',
    '<%= config.bin %> schedule status --json',
  ];

  async run(): Promise<void> {
    await this.parse(ScheduleStatus);
    const env = this.environment();
    const lastPush = await loadLastRun(env.cacheDir);
    const report = await scheduleReport(env, lastPush);
    const warning = overdueWarning(report);
    if (warning) this.warnUser(warning);
    if (this.jsonMode) return this.printJson({ ...report, lastPush, warnings: this.warnings });
    for (const line of scheduleLines(report)) this.say(line);
    if (!report.installed) this.say('next: `backupctl schedule install` (preview: `--dry-run`)');
  }
}

/** The lines of `schedule status` (also under `status`). */
export function scheduleLines(report: ScheduleReport, now = Date.now()): string[] {
  if (!report.installed) return ['schedule    not installed'];
  const lines = [
    `schedule    OnCalendar=${report.onCalendar} (${report.scope} units in ${report.unitDirectory}, credentials: ${report.credentials})`,
  ];
  if (report.timerError) {
    lines.push(`timer       unknown: ${report.timerError.message}`);
    return lines;
  }
  const t = report.timer;
  if (!t) return lines;
  if (!t.loaded) {
    lines.push('timer       not loaded by systemd (run `backupctl schedule install` again)');
    return lines;
  }
  lines.push(`timer       ${t.enabled}, ${t.active}`);
  lines.push(`next run    ${t.next ? formatWhen(t.next, now) : 'none scheduled'}`);
  const run = t.lastRun;
  if (run) {
    const when = run.finished ?? run.started;
    const outcome = run.running
      ? 'running now'
      : run.exitCode === 0
        ? 'succeeded (exit 0)'
        : run.exitCode !== undefined
          ? `failed: exit ${run.exitCode} (${ExitCodeMeaning[run.exitCode] ?? 'failure'})${run.result !== 'exit-code' ? `, ${run.result}` : ''}`
          : run.result;
    lines.push(`last run    ${when ? formatWhen(when, now) : ''} ${outcome}`.replace('    ', '    '));
  } else {
    lines.push('last run    never');
  }
  lines.push(`last ok     ${report.lastSuccess ? formatWhen(report.lastSuccess, now) : 'never'}`);
  return lines;
}
