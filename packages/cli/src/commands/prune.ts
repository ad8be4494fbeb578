import { prune } from '@backupctl/core';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { parseDuration } from '../render/duration.js';
import { formatBytes, formatDuration } from '../render/format.js';
import { localTime } from '../render/local-time.js';

export default class Prune extends BaseCommand {
  static override summary = 'Free the space of data no snapshot references, safely while devices push.';
  static override description =
    `No lock is taken: devices keep pushing. A pack found unreferenced is first marked (prune/ in the repository); pushes stop reusing it at once, and a later prune deletes it only when it has stayed unreferenced for the safety margin (default 24h, longer than any push runs). So the space of a forget is freed by the first prune run at least 24 hours after it — run prune daily or weekly. A crash at any point loses nothing.

On S3 this deletes objects, which only the owner may: it runs with the admin profile (--profile, or the profile that init --bucket recorded), never the device key; without one it stops before any request (exit 45). With a versioned bucket, deleted packs remain as noncurrent versions until the bucket's lifecycle rule expires them.`;
  static override examples = [
    '<%= config.bin %> prune --dry-run',
    '<%= config.bin %> prune --profile admin',
    '<%= config.bin %> prune --safety-margin 48h',
  ];
  static override flags = {
    'dry-run': Flags.boolean({
      description: 'Show what would be marked and deleted; change nothing.',
      default: false,
    }),
    'safety-margin': Flags.string({
      description:
        'How long a pack must stay unreferenced before deletion (e.g. 24h, 2d). Must exceed the longest push; 0 only when no push runs anywhere.',
      default: '24h',
    }),
    profile: Flags.string({
      description: 'AWS profile with the owner’s admin credentials (S3 repositories).',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Prune);
    const safetyMarginMs = parseDuration(flags['safety-margin'], '--safety-margin');
    const options = { dryRun: flags['dry-run'], safetyMarginMs };
    const result = flags['dry-run']
      ? await this.withRepository((session) => prune(session.repo, session.cache, options))
      : await this.withAdminRepository(flags.profile, 'prune', (session) =>
          prune(session.repo, session.cache, { ...options, host: session.env.host }),
        );
    if (this.jsonMode) return this.printJson(result);
    const would = result.dryRun ? 'would be ' : '';
    const p = result.packs;
    this.say(
      `${result.snapshots} snapshots; ${p.total} packs: ${p.used} used, ${p.partlyUsed} partly used (kept whole), ${p.unused} unreferenced`,
    );
    this.say(`  ${would}marked now:  ${result.marked.packs} packs, ${formatBytes(result.marked.bytes)}`);
    this.say(`  ${would}deleted:     ${result.deleted.packs} packs, ${formatBytes(result.deleted.bytes)}`);
    if (result.rescued > 0) this.say(`  kept again:  ${result.rescued} marked packs a push came to use`);
    // `waiting` includes the packs marked by this run.
    const waiting = result.waiting.packs;
    if (waiting > 0) {
      const after = result.waiting.deletableAfter!;
      this.say(
        `  waiting:     ${waiting} marked packs stay until they have been unreferenced for ${formatDuration(safetyMarginMs)}; a prune after ${localTime(after)} deletes them`,
      );
    }
  }
}
