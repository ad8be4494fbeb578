import { check } from '@backupctl/core';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { ExitCodes } from '../exit-codes.js';
import { ProgressReporter } from '../render/progress.js';

export default class Check extends BaseCommand {
  static override summary = 'Verify the repository: structure, and with --read-data every byte.';
  static override description = 'Exit code 0 when the repository is sound, 25 when damage was found.';
  static override examples = ['<%= config.bin %> check', '<%= config.bin %> check --read-data --json'];
  static override flags = {
    'read-data': Flags.boolean({ description: 'Download and verify every pack.', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Check);
    const progress = ProgressReporter.for('check', {
      json: this.jsonMode,
      quiet: this.quiet,
      journal: this.journal,
    });
    const result = await this.withRepository((session) =>
      check(
        session.repo,
        session.cache,
        { readData: flags['read-data'] },
        {
          onProgress: (p) =>
            progress.count({
              done: p.done,
              total: p.total,
              unit: p.phase === 'data' ? 'packs' : 'snapshots',
            }),
        },
      ),
    ).finally(() => progress.stop());
    if (this.jsonMode) this.printJson(result);
    else {
      this.say(
        `${result.snapshots} snapshots, ${result.packs} packs, ${result.blobs} blobs${flags['read-data'] ? `, ${result.packsRead} packs read` : ''}`,
      );
      // Packs recovered from their headers are named among the problems instead.
      if (result.unindexedPacks > 0 && result.recoveredPacks === 0) {
        this.say(
          `${result.unindexedPacks} pack(s) no index lists, likely from an interrupted push (harmless; the next push or \`backupctl repair index\` indexes them): ${result.unindexedPackIds.slice(0, 10).join(', ')}${result.unindexedPackIds.length > 10 ? ` and ${result.unindexedPackIds.length - 10} more` : ''}`,
        );
      }
      for (const p of result.problems) this.say(`problem: ${p.message}`);
      this.say(result.ok ? 'no problems found' : `${result.problems.length} problem(s) found`);
    }
    if (!result.ok) this.exit(ExitCodes.damaged);
  }
}
