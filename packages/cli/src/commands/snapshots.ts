import { listSnapshots } from '@backupctl/core';
import { BaseCommand } from '../base-command.js';
import { formatBytes, table } from '../render/format.js';

export default class Snapshots extends BaseCommand {
  static override summary = 'List the snapshots in the repository, oldest first.';
  static override examples = ['<%= config.bin %> snapshots', '<%= config.bin %> snapshots --json'];

  async run(): Promise<void> {
    await this.parse(Snapshots);
    const list = await this.withRepository((session) => listSnapshots(session.repo, session.cache));
    if (this.jsonMode) return this.printJson(list);
    if (list.length === 0) return this.say('No snapshots yet. Run `backupctl push`.');
    this.say(
      table([
        ['ID', 'TIME', 'HOST', 'FILES', 'SIZE', 'PATHS'],
        ...list.map((s) => [
          s.shortId,
          s.time.replace('T', ' ').slice(0, 19),
          s.host,
          String(s.summary.files),
          formatBytes(s.summary.bytes),
          s.paths.join(', '),
        ]),
      ]),
    );
  }
}
