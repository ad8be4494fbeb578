import {
  BackupctlError,
  ErrorCodes,
  OVERWRITE_POLICIES,
  type OverwritePolicy,
  restore,
} from '@backupctl/core';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { ExitCodes } from '../exit-codes.js';
import { formatBytes } from '../render/format.js';
import { ProgressReporter } from '../render/progress.js';

export default class Restore extends BaseCommand {
  static override summary = 'Restore a snapshot into a folder.';
  static override description =
    `Each backed-up path is recreated under the target with its absolute path (as restic does): /home/me/docs comes back as TARGET/home/me/docs, with contents, modes, mtimes (to the microsecond) and symlinks exact, and owners when run as root.

Nothing is written through a symlink or outside the target. Each file is written under a temporary name and takes its real name only when complete: a restore that is stopped can be run again, and it finishes the job. Files already in the target with the snapshot's contents are left as they are; a file that differs is left untouched and named unless --overwrite says otherwise.

Exit codes: 0 done; 26 some entries could not be restored (damaged data; each is named, the rest was restored); 27 files that differ from the snapshot were left in place. All codes: docs/exit-codes.md.`;
  static override examples = [
    '<%= config.bin %> restore latest --target /tmp/restore',
    '<%= config.bin %> restore 1a2b3c4d --target /tmp/restore --include "/home/me/Documents/**"',
    '<%= config.bin %> restore latest --target /tmp/restore --overwrite if-changed --verify',
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
    overwrite: Flags.string({
      description:
        'A file already in the target that differs from the snapshot: never (leave it, name it, exit 27), if-changed (replace it when its contents differ), always (replace it).',
      options: [...OVERWRITE_POLICIES],
      default: 'never',
    }),
    verify: Flags.boolean({
      description: 'Read each restored file back and compare it with the snapshot before it takes its name.',
      default: false,
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Restore);
    if (flags.target.trim() === '') {
      throw new BackupctlError(ErrorCodes.usage, '--target is empty', {
        resolution: 'Give the folder to restore into, e.g. `--target /tmp/restore`.',
      });
    }
    const progress = ProgressReporter.for('restore', this.jsonMode);
    const result = await this.withRepository((session) =>
      restore(
        session.repo,
        session.cache,
        {
          snapshot: args.snapshot,
          target: flags.target,
          include: flags.include,
          overwrite: flags.overwrite as OverwritePolicy,
          verify: flags.verify,
        },
        { onProgress: (p) => progress.update(p) },
      ),
    ).finally(() => progress.stop());
    // Objects set aside (e.g. a rolled-back snapshot): named in --json, never only on stderr.
    if (this.jsonMode) this.printJson({ ...result, rejectedObjects: this.rejectedObjects });
    else {
      for (const f of result.failed) this.warnUser(`not restored: ${f.path}: ${f.reason}`);
      for (const c of result.conflicts) this.warnUser(`left in place: ${c.path}: ${c.reason}`);
      for (const w of result.warnings) this.warnUser(w);
      this.say(
        `restored snapshot ${result.snapshotId.slice(0, 8)} to ${result.target}: ${result.files} files, ${result.dirs} folders, ${result.symlinks} symlinks, ${formatBytes(result.bytes)}${result.unchanged ? ` (${result.unchanged} files already there)` : ''}${flags.verify ? `; ${result.verified} files verified` : ''}`,
      );
      if (result.failed.length > 0)
        this.say(
          `  ${result.failed.length} entries could not be restored: run \`backupctl check --read-data\``,
        );
      if (this.rejectedObjects.length > 0)
        this.say(
          `  WARNING: ${this.rejectedObjects.length} object(s) failed authentication and were left aside (${this.rejectedObjects.map((r) => r.key).join(', ')}): ${args.snapshot === 'latest' ? 'the snapshot restored is the newest one that authenticates, which may not be the newest pushed' : 'see the warnings above'}. Run \`backupctl check --read-data\``,
        );
      if (result.conflicts.length > 0)
        this.say(
          `  ${result.conflicts.length} entries differ from the snapshot and were left in place (\`--overwrite if-changed\` replaces them)`,
        );
    }
    if (result.failed.length > 0) this.exit(ExitCodes.restorePartial);
    if (result.conflicts.length > 0) this.exit(ExitCodes.restoreConflicts);
  }
}
