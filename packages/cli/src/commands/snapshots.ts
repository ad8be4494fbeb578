import { listSnapshots } from '@backupctl/core';
import { BaseCommand } from '../base-command.js';
import { formatBytes, table } from '../render/format.js';
import { localTime } from '../render/local-time.js';
import { filterFlags, snapshotFilter } from '../render/snapshot-filter.js';

export default class Snapshots extends BaseCommand {
  static override summary = 'List the snapshots in the repository, oldest first.';
  static override description =
    'Times are shown in local time with the UTC offset; --json keeps them in UTC (ISO 8601).';
  static override examples = [
    '<%= config.bin %> snapshots',
    '<%= config.bin %> snapshots --host laptop --tag daily',
    '<%= config.bin %> snapshots --path ~/Documents --json',
  ];
  static override flags = { ...filterFlags };

  async run(): Promise<void> {
    const { flags } = await this.parse(Snapshots);
    const filter = snapshotFilter(flags);
    const list = await this.withRepository((session) => listSnapshots(session.repo, session.cache, filter));
    if (this.jsonMode) return this.printJson(list);
    if (list.length === 0) {
      const filtered = flags.host.length + flags.tag.length + flags.path.length > 0;
      return this.say(filtered ? 'No snapshots match.' : 'No snapshots yet. Run `backupctl push`.');
    }
    this.say(
      table([
        ['ID', 'TIME', 'HOST', 'TAGS', 'FILES', 'SIZE', 'PATHS'],
        ...list.map((s) => [
          s.shortId,
          localTime(s.time),
          s.host,
          s.tags.join(','),
          String(s.summary.files),
          formatBytes(s.summary.bytes),
          s.paths.join(', '),
        ]),
      ]),
    );
  }
}
