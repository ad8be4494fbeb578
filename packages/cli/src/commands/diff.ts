import { type ChangeKind, diffSnapshots } from '@backupctl/core';
import { Args } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { formatBytes, printable } from '../render/format.js';

const SYMBOL: Record<ChangeKind, string> = {
  added: '+',
  removed: '-',
  modified: 'M',
  metadata: 'U',
  type: 'T',
};

export default class Diff extends BaseCommand {
  static override summary = 'Show what changed between two snapshots.';
  static override description =
    'One line per change, as restic: + added, - removed, M content modified, U metadata only (mode, mtime), T type changed. Folders end in /.';
  static override examples = [
    '<%= config.bin %> diff 1a2b3c4d latest',
    '<%= config.bin %> diff 1a2b 5e6f --json',
  ];
  static override args = {
    from: Args.string({ description: 'The older snapshot (id or `latest`).', required: true }),
    to: Args.string({ description: 'The newer snapshot (id or `latest`).', required: true }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(Diff);
    const result = await this.withRepository((session) =>
      diffSnapshots(session.repo, session.cache, args.from, args.to),
    );
    if (this.jsonMode) return this.printJson(result);
    this.say(`comparing snapshot ${result.from.slice(0, 8)} to ${result.to.slice(0, 8)}:`);
    this.say();
    for (const c of result.changes) this.say(`${SYMBOL[c.change]}    ${printable(c.path)}`);
    const s = result.stats;
    this.say();
    this.say(
      `${s.added} added (${formatBytes(s.addedBytes)}), ${s.removed} removed (${formatBytes(s.removedBytes)}), ${s.modified} modified, ${s.metadata} metadata only, ${s.type} type changed`,
    );
  }
}
