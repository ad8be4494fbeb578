import type { GuardEvent, InitGuardedDeviceResult } from '@backupctl/stack';

const MARK: Record<Exclude<GuardEvent['type'], 'deploy'>, string> = {
  start: '..',
  done: '+ ',
  ok: 'ok',
  plan: '? ',
  wait: '~ ',
  warn: '! ',
  info: 'i ',
};

/** One line per library event, as it happens: `step  mark  text`. Pure. */
export function formatGuardEvent(event: GuardEvent): string | undefined {
  if (event.type === 'deploy') {
    const p = event.progress;
    if (p.type === 'change-set-created')
      return `${event.step.padEnd(16)}..  ${p.stackName}: change set (${p.changeSetType}, ${p.changes} change(s))`;
    if (p.type === 'deleting-failed-stack')
      return `${event.step.padEnd(16)}~   ${p.stackName} is ${p.status}: deleting it first`;
    const e = p.event;
    if (e.type === 'AWS::CloudFormation::Stack' && !/COMPLETE|FAILED/.test(e.status)) return undefined;
    return `${event.step.padEnd(16)}    ${e.logicalId} ${e.status}${e.reason && /FAILED/.test(e.status) ? `: ${e.reason}` : ''}`;
  }
  return `${event.step.padEnd(16)}${MARK[event.type]}  ${event.text}`;
}

export function cents(n: number): string {
  return `${n} ¢`;
}

/** The end of init: what was made, where, what it costs, how fast the guard acts. */
export function formatInitSummary(r: InitGuardedDeviceResult): string[] {
  const lines: string[] = [''];
  lines.push(r.dryRun ? 'Plan (nothing was changed):' : 'Summary:');
  lines.push(`  account     ${r.accountId}, guard in ${r.region}`);
  lines.push(`  repository  ${r.repository}`);
  lines.push(
    `  device      ${r.device}: IAM user ${r.userName}, stack ${r.deviceStack}, alarm ${r.alarmName}`,
  );
  lines.push(`  guard       stack ${r.guardStack}, trail ${r.trail.name} -> ${r.trail.logGroup}`);
  if (!r.dryRun) {
    lines.push(r.created.length > 0 ? '  created:' : '  created     nothing (all was there already)');
    for (const c of r.created) lines.push(`    - ${c}`);
  }
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  const c = r.cost;
  lines.push(
    `  cost        about ${cents(c.totalCents)} a month: alarm ${cents(c.alarmCents)}, guard metric ${cents(c.metricCents)}, Lambda ${cents(c.lambdaCents)}, trail logs ${cents(c.trailLogsCents)}, S3 data events ${cents(c.dataEventsCents)}`,
  );
  lines.push(`  the guard   acts ${r.guardActsIn}`);
  return lines;
}
