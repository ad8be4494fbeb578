import { type DeviceStatus, deviceStatus, recoverySteps } from '@backupctl/core';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { ExitCodes } from '../exit-codes.js';
import { formatBytes } from '../render/format.js';
import { promptHidden } from '../render/prompt.js';

export default class Status extends BaseCommand {
  static override summary = "Show this device's setup, its repository, and whether its key still works.";
  static override description =
    `health.state is one of: ok, quarantined, denied, unknown-denied, key-invalid, secret-wrong, clock-skew, bucket-missing, offline, unknown (docs/access-manifest.md, "Health states"). When quarantined, no AWS request is made: the saved state is shown with the recovery steps, and the exit code is 20.`;
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
      keychain: this.secretStore(),
      promptPassword:
        process.stdin.isTTY && !this.jsonMode ? () => promptHidden('Repository passphrase: ') : undefined,
    });
    if (this.jsonMode) this.printJson(status);
    else this.render(status);
    // A quarantined device is a failure a script must see, like push's.
    if (status.health.state === 'quarantined') this.exit(ExitCodes.quarantined);
  }

  private render(status: DeviceStatus): void {
    const { device, repository, health, lastPush } = status;
    this.say(`device      ${device.host} (${device.configFile})`);
    this.say(`repository  ${device.repository}`);
    this.say(`paths       ${device.paths.join(', ') || '(none configured)'}`);
    if (repository.reachable) {
      this.say(`snapshots   ${repository.snapshots}`);
      if (repository.latest) {
        this.say(
          `latest      ${repository.latest.id.slice(0, 8)} at ${repository.latest.time} (${repository.latest.files} files, ${formatBytes(repository.latest.bytes)})`,
        );
      }
    } else if (repository.error) {
      this.say(`unreachable ${repository.error.message}`);
    }
    if (lastPush) {
      this.say(
        `last push   ${lastPush.finished} ${lastPush.ok ? 'ok' : lastPush.error ? `failed: ${lastPush.error.message}` : `with ${lastPush.warnings} warning(s)`}`,
      );
    }
    this.say(
      `health      ${health.state} (${health.source === 'probe' ? 'checked now' : `as of ${health.time}`})`,
    );
    if (health.state === 'quarantined') {
      this.say('');
      this.say(`QUARANTINED since ${health.time}`);
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
    } else if (health.state !== 'ok' && health.message) {
      this.say(`  ${health.message}`);
    }
  }
}
