import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import {
  deleteSchedule,
  exec,
  loadSchedule,
  schedulerUnavailable,
  systemctlArgs,
  unitDirectory,
} from '../../schedule/systemd.js';
import { NOTIFY_UNIT, SERVICE_UNIT, TIMER_UNIT } from '../../schedule/units.js';

export default class ScheduleRemove extends BaseCommand {
  static override summary = 'Stop and remove the timer that `schedule install` set up.';
  static override description =
    'Disables the timer, deletes the three units and the encrypted credential files of `--credentials systemd`. The repository and its snapshots are not touched.';
  static override examples = [
    '<%= config.bin %> schedule remove',
    'sudo <%= config.bin %> schedule remove --system',
  ];
  static override flags = {
    user: Flags.boolean({
      description: 'Remove user units (default, or as installed).',
      exclusive: ['system'],
    }),
    system: Flags.boolean({ description: 'Remove system units.', exclusive: ['user'] }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ScheduleRemove);
    const env = this.environment();
    const installed = await loadSchedule(env.configDir);
    const scope = flags.system ? 'system' : flags.user ? 'user' : (installed?.scope ?? 'user');
    const dir = installed?.scope === scope ? installed.unitDirectory : unitDirectory(scope);
    const disable = await exec('systemctl', systemctlArgs(scope, ['disable', '--now', TIMER_UNIT]));
    // "not loaded"/"does not exist" is fine (already gone); no systemd at all is not.
    if (disable.code !== 0 && !/not loaded|does not exist|No such file/i.test(disable.stderr)) {
      throw schedulerUnavailable('cannot disable the timer', disable, scope);
    }
    const removed: string[] = [];
    const files = [
      ...[SERVICE_UNIT, TIMER_UNIT, NOTIFY_UNIT].map((u) => path.join(dir, u)),
      ...(installed?.scope === scope ? (installed.credentialFiles ?? []) : []),
    ];
    for (const file of files) {
      const existed = await fs.rm(file).then(
        () => true,
        () => false,
      );
      if (existed) removed.push(file);
    }
    await exec('systemctl', systemctlArgs(scope, ['daemon-reload']));
    if (installed?.scope === scope) await deleteSchedule(env.configDir);
    if (this.jsonMode) return this.printJson({ scope, removed });
    if (removed.length === 0) this.say(`no backupctl units found in ${dir}`);
    for (const file of removed) this.say(`removed ${file}`);
  }
}
