import { guardDrill, guardOf, NotConfirmedError, recoverDevice } from '@backupctl/stack';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { formatDuration } from '../../render/format.js';
import { formatGuardEvent } from '../../render/guard-events.js';
import { confirm } from '../../render/prompt.js';

export default class GuardDrill extends BaseCommand {
  static override summary =
    'Trip the guard on purpose and measure how fast it quarantines this device, then recover (admin credentials).';
  static override description =
    `Makes one sts:GetCallerIdentity call with this device's key — the thief's usual first call and the guard's tripwire; the only STS call backupctl ever makes — then polls until the device's IAM user carries AWSDenyAll, prints the measured time, and runs \`backupctl recover\`. Expect minutes: CloudTrail delivers to CloudWatch Logs in about 5 minutes on average.`;
  static override examples = [
    '<%= config.bin %> guard drill',
    '<%= config.bin %> guard drill --yes --profile admin',
  ];
  static override flags = {
    profile: Flags.string({
      description: "AWS profile with the owner's admin credentials (default: the one init used).",
    }),
    yes: Flags.boolean({ description: 'Do not ask for confirmation.', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(GuardDrill);
    const env = this.environment();
    const config = await this.deviceConfig(env);
    const guard = guardOf(config);
    const profile = flags.profile ?? guard.adminProfile;
    if (
      !flags.yes &&
      !(await confirm(
        `Quarantine ${guard.device} on purpose (pushes stop until recover ends)?`,
        this.jsonMode,
      ))
    )
      throw new NotConfirmedError(`guard drill ${guard.device}`);
    const clients = (await this.adminClientsFor(profile))(guard.region);
    const store = this.secretStore(config);
    const onEvent = (event: Parameters<typeof formatGuardEvent>[0]) => {
      const line = formatGuardEvent(event);
      if (line !== undefined && !this.jsonMode) process.stderr.write(`${line}\n`);
    };
    const drill = await guardDrill({
      env,
      config,
      clients,
      store,
      ...(profile ? { profile } : {}),
      onEvent,
      sleep: BaseCommand.clock.sleep,
      now: BaseCommand.clock.now,
    });
    this.say(
      `The guard quarantined ${drill.userName} ${formatDuration(drill.quarantinedAfterMs)} after the tripwire call.`,
    );
    const recovered = await recoverDevice({
      env,
      config,
      clients,
      store,
      ...(profile ? { profile } : {}),
      confirm: async () => true,
      onEvent,
      sleep: BaseCommand.clock.sleep,
      now: BaseCommand.clock.now,
    });
    if (this.jsonMode) return this.printJson({ ...drill, recovered });
    this.say(`Recovered: new key ${recovered.newKeyId} in the keychain.`);
  }
}
