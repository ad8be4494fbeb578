import { BackupctlError, dumpFile, ErrorCodes } from '@backupctl/core';
import { Args } from '@oclif/core';
import { BaseCommand } from '../base-command.js';

export default class Dump extends BaseCommand {
  static override summary = 'Write one file of a snapshot to stdout.';
  static override description =
    'Streams the file chunk by chunk (memory stays small whatever its size). FILE is its absolute backed-up path. The file is the output, so --json is refused.';
  static override examples = [
    '<%= config.bin %> dump latest /home/me/Documents/notes.txt',
    '<%= config.bin %> dump 1a2b3c4d /home/me/photo.jpg > photo.jpg',
  ];
  static override args = {
    snapshot: Args.string({
      description: 'Snapshot id (at least 4 characters) or `latest`.',
      required: true,
    }),
    file: Args.string({ description: 'The file, by its absolute backed-up path.', required: true }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(Dump);
    if (this.jsonMode) {
      throw new BackupctlError(
        ErrorCodes.usage,
        'dump writes the file itself to stdout: --json does not apply',
        {
          resolution: 'Drop --json and redirect stdout, e.g. `backupctl dump latest /home/me/a.txt > a.txt`.',
        },
      );
    }
    await this.withRepository((session) =>
      dumpFile(session.repo, session.cache, args.snapshot, args.file, process.stdout),
    );
  }
}
