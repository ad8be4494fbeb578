import { destroyDevice, guardOf, NotConfirmedError } from '@backupctl/stack';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { formatGuardEvent } from '../render/guard-events.js';
import { confirm, confirmTyped } from '../render/prompt.js';

export default class Destroy extends BaseCommand {
  static override summary =
    'Remove a device: its stack (IAM user, policy, alarm), its keys and, for this device, its local config (admin credentials).';
  static override description =
    `The backups stay in the bucket unless --delete-backups is given and the device name is typed to confirm (no --yes for that). --guard also deletes the guard stack, only when no device is left.`;
  static override examples = [
    '<%= config.bin %> destroy',
    '<%= config.bin %> destroy --device old-laptop --yes',
    '<%= config.bin %> destroy --guard --delete-backups',
  ];
  static override flags = {
    device: Flags.string({ description: 'The device to remove (default: this one).' }),
    guard: Flags.boolean({
      description: 'Also delete the guard stack when no device is left.',
      default: false,
    }),
    'delete-backups': Flags.boolean({
      description: "Also delete the device's backups (asks for the device name).",
      default: false,
    }),
    profile: Flags.string({
      description: "AWS profile with the owner's admin credentials (default: the one init used).",
    }),
    yes: Flags.boolean({ description: 'Do not ask (except before deleting backups).', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Destroy);
    const env = this.environment();
    const config = await this.deviceConfig(env);
    const guard = guardOf(config);
    const device = flags.device ?? guard.device;
    const profile = flags.profile ?? guard.adminProfile;
    if (
      !flags.yes &&
      !(await confirm(
        `Remove device ${device} (IAM user, keys, alarm${device === guard.device ? ', local config' : ''})?`,
        this.jsonMode,
      ))
    )
      throw new NotConfirmedError(`destroy ${device}`);
    const result = await destroyDevice({
      env,
      config,
      clients: (await this.adminClientsFor(profile))(guard.region),
      store: this.secretStore(config),
      device,
      guard: flags.guard,
      deleteBackups: flags['delete-backups'],
      confirmDeleteBackups: (name, where) =>
        confirmTyped(
          `This deletes every backup under ${where}, for good. Type the device name (${name}) to confirm:`,
          name,
        ),
      ...(profile ? { profile } : {}),
      sleep: BaseCommand.clock.sleep,
      onEvent: (event) => {
        const line = formatGuardEvent(event);
        if (line !== undefined && !this.jsonMode) process.stderr.write(`${line}\n`);
      },
    });
    if (this.jsonMode) return this.printJson(result);
    this.say(`Removed ${result.device}: stack ${result.stack}, ${result.deletedKeys.length} key(s) deleted.`);
    this.say(
      result.backups === 'kept'
        ? `Backups kept at s3://${guard.bucket}/devices/${result.device}/.`
        : `Backups deleted (${result.backups.deletedObjects} object versions).`,
    );
    if (result.guardStack !== 'kept') this.say(`Guard stack ${guard.guardStack}: ${result.guardStack}.`);
  }
}
