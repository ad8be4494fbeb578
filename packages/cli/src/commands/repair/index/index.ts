import { repairIndex } from '@backupctl/core';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../../base-command.js';

export default class RepairIndex extends BaseCommand {
  static override summary =
    'Save a new index file for the packs no index lists, read from their own headers.';
  static override description =
    `After an index file was deleted or damaged (or a push was killed before its index), the packs it described are still there and carry their own encrypted headers: backupctl already finds their data when it needs it. This writes one new index file listing those packs, so that nothing needs the headers again. It only adds an object (create-only, as a device key may): it never deletes or replaces anything, and a damaged index file is left where it is. \`backupctl check\` names the packs concerned.`;
  static override examples = [
    '<%= config.bin %> repair index --dry-run',
    '<%= config.bin %> repair index',
    '<%= config.bin %> repair index --json',
  ];
  static override flags = {
    'dry-run': Flags.boolean({
      description: 'Only list the packs a new index would name; write nothing.',
      default: false,
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(RepairIndex);
    const result = await this.withRepository((session) =>
      repairIndex(session.repo, session.cache, { dryRun: flags['dry-run'] }),
    );
    if (this.jsonMode) return this.printJson(result);
    for (const u of result.unreadable)
      this.warnUser(`pack ${u.id} is listed by no index and its header cannot be read: ${u.reason}`);
    if (result.packs.length === 0) {
      this.say('every pack is listed by an index file: nothing to repair');
      return;
    }
    const blobs = result.packs.reduce((n, p) => n + p.blobs, 0);
    for (const p of result.packs) this.say(`  ${p.id} (${p.blobs} blobs)`);
    this.say(
      result.dryRun
        ? `would save a new index file for ${result.packs.length} pack(s), ${blobs} blobs (nothing written: --dry-run)`
        : `saved index/${result.indexId} for ${result.packs.length} pack(s), ${blobs} blobs`,
    );
    if (result.rejectedIndexes.length > 0)
      this.say(
        `left in place: ${result.rejectedIndexes.length} index file(s) that fail authentication (nothing is deleted)`,
      );
    if (!result.dryRun) this.say('Next: `backupctl check` to verify.');
  }
}
