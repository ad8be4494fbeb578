import { restore } from '@backupctl/core';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { formatBytes } from '../render/format.js';
import { ProgressReporter } from '../render/progress.js';

export default class Restore extends BaseCommand {
  static override summary = 'Restore a snapshot into a folder.';
  static override description =
    'Each backed-up path is recreated under the target with its absolute path (as restic does): /home/me/docs comes back as TARGET/home/me/docs, with contents, modes, mtimes and symlinks exact.';
  static override examples = [
    '<%= config.bin %> restore latest --target /tmp/restore',
    '<%= config.bin %> restore 1a2b3c4d --target /tmp/restore --include "/home/me/Documents/**"',
  ];
  static override args = {
    snapshot: Args.string({
      description: 'Snapshot id (at least 4 characters) or `latest`.',
      required: true,
    }),
  };
  static override flags = {
    target: Flags.string({ description: 'Folder to restore into (created if missing).', required: true }),
    include: Flags.string({
      description: 'Glob on the backed-up absolute path (repeatable).',
      multiple: true,
      multipleNonGreedy: true,
      default: [],
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Restore);
    const progress = ProgressReporter.for('restore', this.jsonMode);
    const result = await this.withRepository((session) =>
      restore(
        session.repo,
        session.cache,
        { snapshot: args.snapshot, target: flags.target, include: flags.include },
        { onProgress: (p) => progress.update(p) },
      ),
    ).finally(() => progress.stop());
    if (this.jsonMode) return this.printJson(result);
    this.say(
      `restored snapshot ${result.snapshotId.slice(0, 8)} to ${result.target}: ${result.files} files, ${result.dirs} folders, ${result.symlinks} symlinks, ${formatBytes(result.bytes)}`,
    );
  }
}
