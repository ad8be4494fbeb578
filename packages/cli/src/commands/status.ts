import { deviceStatus, isS3Repository, recoverySteps } from '@backupctl/core';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { ExitCodes, exitCodeForCode } from '../exit-codes.js';
import { formatBytes, formatWhen } from '../render/format.js';
import { promptHidden } from '../render/prompt.js';
import { overdueWarning, scheduleReport } from '../schedule/report.js';

export default class Status extends BaseCommand {
  static override summary = 'Show this device at a glance: repository, guard, last pushes, next run, size.';
  static override description =
    `Times are local, with the zone. health.state is one of: ok, quarantined, denied, unknown-denied, key-invalid, secret-wrong, clock-skew, bucket-missing, offline, unknown (docs/access-manifest.md, "Health states"). When quarantined, no AWS request is made: the saved state is shown with the recovery steps.

Exit codes: 0 all well; 10 not set up; 20 quarantined; otherwise the code of the error that kept the repository from answering (12 passphrase, 23 offline, …: docs/exit-codes.md).`;
  static override examples = [
    '<%= config.bin %> status',
    '<%= config.bin %> status --json',
    '<%= config.bin %> status --probe   # ask AWS again even when the saved state is quarantined',
  ];
  static override flags = {
    probe: Flags.boolean({
      description: 'Make one allowed request even when the saved state says quarantined.',
      default: false,
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Status);
    const env = this.environment();
    const status = await deviceStatus({
      env,
      probe: flags.probe,
      keychain: this.useKeychain ? (c) => this.secretStore(c) : undefined,
      promptPassword:
        process.stdin.isTTY && !this.jsonMode ? () => promptHidden('Repository passphrase: ') : undefined,
    });
    const schedule = await scheduleReport(env, status.lastPush);
    const overdue = overdueWarning(schedule);
    if (overdue) this.warnUser(overdue);
    const { device, repository, health, lastPush } = status;
    const s3 = isS3Repository(device.repository);
    const quarantined = health.state === 'quarantined';
    const exitCode = quarantined
      ? ExitCodes.quarantined
      : repository.reachable || !repository.error
        ? ExitCodes.ok
        : exitCodeForCode(repository.error.code);
    if (this.jsonMode) {
      this.printJson({ ...status, schedule, warnings: this.warnings });
    } else {
      const row = (label: string, value: string) => this.say(`${label.padEnd(12)}${value}`);
      row('device', `${device.host}${status.device.configFile ? ` (${device.configFile})` : ''}`);
      row('repository', device.repository);
      row('paths', device.paths.join(', ') || '(none configured)');
      if (s3) {
        row(
          'guard',
          quarantined
            ? `QUARANTINED (since ${formatWhen(health.time)})`
            : health.state === 'ok'
              ? 'not quarantined: the key works (stacks and trail: `backupctl doctor`)'
              : `unknown (${health.state === 'unknown' ? 'not checked' : health.state}${health.source === 'saved' ? ` as of ${formatWhen(health.time)}` : ''})`,
        );
      }
      if (repository.reachable) {
        const latest = repository.latest;
        row(
          'snapshots',
          `${repository.snapshots}${latest ? `, latest ${latest.id.slice(0, 8)} at ${formatWhen(latest.time)} (${latest.files} files, ${formatBytes(latest.bytes)})` : ''}`,
        );
        if (repository.size) {
          const z = repository.size;
          row(
            'size',
            `${formatBytes(z.storedBytes)} stored in ${z.packs} packs; the snapshots hold ${formatBytes(z.snapshotBytes)}${z.storedBytes > 0 ? ` (dedup ratio ${z.dedupRatio}x)` : ''}`,
          );
        }
      } else if (quarantined) {
        row('snapshots', 'not asked (quarantined: no AWS request is made)');
      } else if (repository.error) {
        row('unreachable', `${repository.error.message}`);
      }
      if (lastPush) {
        const outcome = lastPush.ok
          ? 'ok'
          : lastPush.error
            ? `failed: ${lastPush.error.message}`
            : `with ${lastPush.warnings} unreadable file(s)`;
        row('last push', `${formatWhen(lastPush.finished)} ${outcome}`);
      } else {
        row('last push', 'never');
      }
      row('last ok', schedule.lastSuccess ? formatWhen(schedule.lastSuccess) : 'never');
      row(
        'next run',
        !schedule.installed
          ? 'no schedule (`backupctl schedule install`)'
          : schedule.timer?.next
            ? formatWhen(schedule.timer.next)
            : schedule.timerError
              ? `unknown: ${schedule.timerError.message}`
              : 'none scheduled (timer not active: `backupctl schedule status`)',
      );
      // Never "ok" beside "unreachable": health is said only when it was learned now or is news.
      if (s3) {
        if (health.source === 'none') row('health', 'not checked (the repository could not be opened)');
        else {
          row(
            'health',
            `${health.state} (${health.source === 'probe' ? 'checked now' : `as of ${formatWhen(health.time)}`})`,
          );
          if (health.state !== 'ok' && health.message) this.say(`            ${health.message}`);
        }
      }
      if (quarantined) {
        this.say('');
        this.say(`QUARANTINED since ${formatWhen(health.time)}`);
        if (health.request)
          this.say(
            `  by the answer to ${health.request.action ?? health.request.command ?? 'a request'} ${health.request.resource ?? ''}`,
          );
        if (health.message) this.say(`  AWS said: ${health.message}`);
        this.say(
          "  What it means: the guard saw a denied call or a GetCallerIdentity call by this device's IAM user. If you did not make it, the key is probably stolen.",
        );
        this.say(`  ${recoverySteps({ policy: health.policy })}`);
        this.say(
          "  By hand: delete the access key, wait until the device's alarm is OK again on its own (never set its state), detach AWSDenyAll from the user, create a new key and store it in the keychain — or let `backupctl recover` do it.",
        );
      }
    }
    if (exitCode !== ExitCodes.ok) {
      process.exitCode = exitCode;
      this.exit(exitCode);
    }
  }
}
