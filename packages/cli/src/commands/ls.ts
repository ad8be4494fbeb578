import { listSnapshotEntries, type SnapshotEntry } from '@backupctl/core';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { formatBytes, printable } from '../render/format.js';
import { localTime } from '../render/local-time.js';

export default class Ls extends BaseCommand {
  static override summary = 'List the files of a snapshot, below a path.';
  static override description =
    'Paths are the absolute backed-up paths (as restic). Everything below PATH is listed, depth first in name order; output streams as the trees are read.';
  static override examples = [
    '<%= config.bin %> ls latest',
    '<%= config.bin %> ls 1a2b3c4d /home/me/Documents --long',
    '<%= config.bin %> ls latest /home/me/.ssh --json',
  ];
  static override args = {
    snapshot: Args.string({
      description: 'Snapshot id (at least 4 characters) or `latest`.',
      required: true,
    }),
    path: Args.string({ description: 'Only what is at or below this path (default: all).' }),
  };
  static override flags = {
    long: Flags.boolean({ char: 'l', description: 'Show mode, size and modification time.', default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Ls);
    const collected: SnapshotEntry[] = [];
    await this.withRepository(async (session) => {
      for await (const entry of listSnapshotEntries(
        session.repo,
        session.cache,
        args.snapshot,
        args.path ?? '/',
      )) {
        if (this.jsonMode) collected.push(entry);
        else
          this.log(flags.long ? longLine(entry) : printable(entry.path) + (entry.type === 'dir' ? '/' : ''));
      }
    });
    if (this.jsonMode) this.printJson(collected);
  }
}

function longLine(e: SnapshotEntry): string {
  const kind = e.type === 'dir' ? 'd' : e.type === 'symlink' ? 'l' : '-';
  const size = e.type === 'file' ? formatBytes(e.size ?? 0) : '';
  const target = e.target === undefined ? '' : ` -> ${printable(e.target)}`;
  return `${kind}${e.mode.toString(8).padStart(4, '0')}  ${size.padStart(10)}  ${localTime(e.mtime)}  ${printable(e.path)}${target}`;
}
