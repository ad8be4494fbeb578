import { type GuardEventSummary, guardOf, NotConfirmedError, recoverDevice } from '@backupctl/stack';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { formatDuration, table } from '../render/format.js';
import { formatGuardEvent } from '../render/guard-events.js';
import { confirm } from '../render/prompt.js';

export default class Recover extends BaseCommand {
  static override summary = 'Bring this device back after a quarantine (admin credentials).';
  static override description =
    `Shows the calls that tripped the guard (from the trail's log group), and, once confirmed: deletes the device's old access keys, waits for its alarm to return to OK on its own (it is never forced: the alarm re-evaluates recent data and would fire again), detaches AWSDenyAll, stores a new key in the OS keychain, probes it through IAM's propagation delay, and clears the local quarantine state. Run it on the device; a re-run after a failure resumes.

The admin profile defaults to the one \`init\` recorded.`;
  static override examples = ['<%= config.bin %> recover', '<%= config.bin %> recover --profile admin --yes'];
  static override flags = {
    profile: Flags.string({
      description: "AWS profile with the owner's admin credentials (default: the one init used).",
    }),
    yes: Flags.boolean({ description: 'Do not ask for confirmation.', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Recover);
    const env = this.environment();
    const config = await this.deviceConfig(env);
    const guard = guardOf(config);
    const profile = flags.profile ?? guard.adminProfile;
    const clients = (await this.adminClientsFor(profile))(guard.region);
    const result = await recoverDevice({
      env,
      config,
      clients,
      store: this.secretStore(config),
      ...(profile ? { profile } : {}),
      sleep: BaseCommand.clock.sleep,
      now: BaseCommand.clock.now,
      onEvent: (event) => {
        const line = formatGuardEvent(event);
        if (line !== undefined && !this.jsonMode) process.stderr.write(`${line}\n`);
      },
      confirm: async (events) => {
        this.say(`The guard saw ${events.length} call(s) by ${guard.userName} in the last 24 hours:`);
        if (events.length > 0) this.say(formatEvents(events));
        this.say(
          'If you did not make these calls, the device key is stolen: recover deletes it, so the thief loses it too.',
        );
        if (flags.yes) return true;
        if (!process.stdin.isTTY || this.jsonMode) throw new NotConfirmedError(`recover ${guard.device}`);
        return confirm(`Rotate the key of ${guard.userName} and lift the quarantine?`);
      },
    });
    if (this.jsonMode) return this.printJson(result);
    this.say('');
    this.say(`Recovered ${guard.device}: new key ${result.newKeyId} in the keychain.`);
    this.say(
      `  old keys deleted: ${result.deletedKeys.join(', ') || 'none left'}; AWSDenyAll ${result.detached ? 'detached' : 'was not attached'}; waited ${formatDuration(result.waitedForAlarmMs)} for the alarm.`,
    );
    this.say('  The next `backupctl push` runs as before.');
  }
}

function formatEvents(events: GuardEventSummary[]): string {
  return table([
    ['time', 'event', 'error', 'source IP', 'region', 'user agent'],
    ...events.map((e) => [
      e.time,
      `${e.eventSource.replace('.amazonaws.com', '')}:${e.eventName}`,
      e.errorCode ?? '-',
      e.sourceIp ?? '-',
      e.region ?? '-',
      (e.userAgent ?? '-').slice(0, 40),
    ]),
  ]);
}
