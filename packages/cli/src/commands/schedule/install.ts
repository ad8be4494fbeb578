import { BackupctlError, ErrorCodes } from '@backupctl/core';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { promptHidden } from '../../render/prompt.js';
import { gatherSecrets, installUnits, scheduleFromCalendar, unitOptionsFor } from '../../schedule/install.js';
import { saveSchedule } from '../../schedule/systemd.js';
import { renderUnits, scheduleFromEvery, TIMER_UNIT } from '../../schedule/units.js';

export default class ScheduleInstall extends BaseCommand {
  static override summary = 'Run `backupctl push` on a schedule, with a systemd timer.';
  static override description =
    `Writes backupctl-push.service, backupctl-push.timer and backupctl-notify@.service, then enables the timer. User units (the default) run in your login session and read the passphrase from the keychain. --system units run without a login (a server): they need --credentials systemd, which encrypts the passphrase and the device's AWS key with \`systemd-creds encrypt\` (run as root).

--dry-run prints the units and changes nothing; with --json: {"units":[{"name","content"}]}.`;
  static override examples = [
    '<%= config.bin %> schedule install',
    '<%= config.bin %> schedule install --every 6h',
    '<%= config.bin %> schedule install --on-calendar "*-*-* 02:30"',
    'sudo <%= config.bin %> schedule install --system --credentials systemd',
    '<%= config.bin %> schedule install --dry-run --json',
  ];
  static override flags = {
    every: Flags.string({
      description: 'How often: 15m, 30m, 1h, 2h, 6h, 12h, 1d, 1w (aligned to the clock).',
      exclusive: ['on-calendar'],
    }),
    'on-calendar': Flags.string({
      description: 'Any systemd calendar expression (man systemd.time), e.g. "*-*-* 02:30".',
      exclusive: ['every'],
    }),
    user: Flags.boolean({ description: 'Install user units (default).', exclusive: ['system'] }),
    system: Flags.boolean({
      description: 'Install system units (/etc/systemd/system), run as you.',
      exclusive: ['user'],
    }),
    credentials: Flags.string({
      description:
        'Where the service finds the passphrase and AWS key (default: keychain for --user, systemd for --system).',
      options: ['keychain', 'systemd'],
    }),
    'dry-run': Flags.boolean({ description: 'Print the units; write and enable nothing.', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ScheduleInstall);
    const scope = flags.system ? 'system' : 'user';
    const credentials = (flags.credentials ?? (scope === 'system' ? 'systemd' : 'keychain')) as
      | 'keychain'
      | 'systemd';
    if (scope === 'system' && credentials === 'keychain') {
      throw new BackupctlError(
        ErrorCodes.usage,
        'a system service cannot reach the keychain of your login session',
        {
          resolution:
            'Use `--system --credentials systemd`, or user units (`backupctl schedule install --user`).',
        },
      );
    }
    if (scope === 'user' && credentials === 'systemd') {
      throw new BackupctlError(
        ErrorCodes.usage,
        'a user service cannot decrypt host-encrypted systemd credentials (systemd before 256)',
        {
          resolution:
            'Use `sudo backupctl schedule install --system --credentials systemd`, or user units with the keychain.',
        },
      );
    }
    const schedule = flags['on-calendar']
      ? await scheduleFromCalendar(flags['on-calendar'])
      : scheduleFromEvery(flags.every ?? '1h');
    const env = this.environment();
    const options = unitOptionsFor(env, schedule, scope, credentials);
    const units = renderUnits(options);
    if (flags['dry-run']) {
      if (this.jsonMode) return this.printJson({ units });
      for (const unit of units) this.log(`# ${unit.name}\n${unit.content}`);
      return;
    }
    // Refuse before writing anything when the device is not set up: the service would fail.
    const config = await this.deviceConfig(env);
    const secrets =
      credentials === 'systemd'
        ? await gatherSecrets(
            env,
            config,
            this.secretStore(config),
            process.stdin.isTTY && !this.jsonMode ? () => promptHidden('Repository passphrase: ') : undefined,
          )
        : undefined;
    const result = await installUnits(units, options, secrets);
    await saveSchedule(env.configDir, {
      scope,
      onCalendar: schedule.onCalendar,
      ...(schedule.intervalSeconds ? { intervalSeconds: schedule.intervalSeconds } : {}),
      credentials,
      unitDirectory: result.unitDirectory,
      units: units.map((u) => u.name),
      credentialFiles: result.credentialFiles,
      installed: new Date().toISOString(),
    });
    if (this.jsonMode) return this.printJson({ ...result, scope, schedule, warnings: this.warnings });
    for (const file of result.written) this.say(`wrote ${file}`);
    for (const file of result.credentialFiles) this.say(`encrypted ${file}`);
    this.say(`enabled ${TIMER_UNIT} (OnCalendar=${schedule.onCalendar})`);
    this.say(
      'next: `backupctl schedule status` shows the next run; `backupctl schedule remove` undoes this.',
    );
  }
}
