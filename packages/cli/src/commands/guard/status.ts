import { guardOf, guardStatus } from '@backupctl/stack';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { table } from '../../render/format.js';

export default class GuardStatus extends BaseCommand {
  static override summary =
    'Every device of the account: alarm, quarantine, key age, last snapshot (admin credentials).';
  static override description =
    "Lists the IAM users under /backupctl/ with their guard alarm state, whether AWSDenyAll is attached, the age of their access key, and the time of their newest snapshot in the bucket. The account, region, bucket and admin profile come from this device's config.";
  static override examples = [
    '<%= config.bin %> guard status',
    '<%= config.bin %> guard status --json --profile admin',
  ];
  static override flags = {
    profile: Flags.string({
      description: "AWS profile with the owner's admin credentials (default: the one init used).",
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(GuardStatus);
    const env = this.environment();
    const guard = guardOf(await this.deviceConfig(env));
    const profile = flags.profile ?? guard.adminProfile;
    const result = await guardStatus({
      clients: (await this.adminClientsFor(profile))(guard.region),
      bucket: guard.bucket,
      ...(profile ? { profile } : {}),
      now: BaseCommand.clock.now,
    });
    if (this.jsonMode) return this.printJson({ accountId: guard.accountId, region: guard.region, ...result });
    this.say(`account ${guard.accountId}, guard in ${guard.region}, bucket ${guard.bucket}`);
    this.say('');
    this.say(
      table([
        ['device', 'alarm', 'quarantined', 'key age', 'last snapshot'],
        ...result.devices.map((d) => [
          d.device,
          d.alarm,
          d.quarantined ? 'YES' : 'no',
          d.keyAgeDays === undefined ? 'no key' : `${d.keyAgeDays} d`,
          d.lastSnapshot ?? '-',
        ]),
      ]),
    );
    if (result.devices.some((d) => d.quarantined))
      this.say('\nA quarantined device: run `backupctl recover` on it (admin credentials).');
  }
}
