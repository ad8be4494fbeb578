import { BackupctlError, ErrorCodes, type ForgetResult, forget, type RetentionPolicy } from '@backupctl/core';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { table } from '../render/format.js';
import { localTime } from '../render/local-time.js';
import { filterFlags, snapshotFilter } from '../render/snapshot-filter.js';

const keep = (what: string) =>
  Flags.integer({
    description: `Keep the newest snapshot of each of the last N ${what} (-1: all).`,
    min: -1,
  });

export default class Forget extends BaseCommand {
  static override summary = 'Remove snapshots by a retention policy (as restic forget).';
  static override description =
    `Snapshots are judged per host and set of paths, newest first, with restic's rules: each --keep-* keeps the newest snapshot of each of its N most recent hours, days, ISO weeks, months or years that have one (and the oldest snapshot while counts are left); --keep-tag keeps every snapshot with those tags. Only snapshot objects are removed; run \`backupctl prune\` to free the data.

On S3 this deletes objects, which only the owner may: it runs with the admin profile (--profile, or the profile that init --bucket recorded), never with the device key. Without one it stops before any request (exit 45). --dry-run only reads.`;
  static override examples = [
    '<%= config.bin %> forget --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --dry-run',
    '<%= config.bin %> forget --keep-last 24 --keep-daily 30 --profile admin',
    '<%= config.bin %> forget --keep-tag important --keep-monthly 6 --host laptop',
  ];
  static override flags = {
    'keep-last': keep('snapshots'),
    'keep-hourly': keep('hours'),
    'keep-daily': keep('days'),
    'keep-weekly': keep('weeks'),
    'keep-monthly': keep('months'),
    'keep-yearly': keep('years'),
    'keep-tag': Flags.string({
      description: 'Keep snapshots holding these tags (comma-separated: all of them; repeatable: any).',
      multiple: true,
      multipleNonGreedy: true,
      default: [],
    }),
    ...filterFlags,
    'dry-run': Flags.boolean({ description: 'Show what would be removed; remove nothing.', default: false }),
    profile: Flags.string({
      description: 'AWS profile with the owner’s admin credentials (S3 repositories).',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Forget);
    const policy: RetentionPolicy = {
      last: flags['keep-last'],
      hourly: flags['keep-hourly'],
      daily: flags['keep-daily'],
      weekly: flags['keep-weekly'],
      monthly: flags['keep-monthly'],
      yearly: flags['keep-yearly'],
      tags: flags['keep-tag'].map((t) => t.split(',').filter(Boolean)),
    };
    if (Object.values(policy).every((v) => v === undefined || (Array.isArray(v) && v.length === 0))) {
      throw new BackupctlError(ErrorCodes.usage, 'no retention rule given: forget would keep everything', {
        resolution: 'Give at least one --keep-* flag, e.g. `backupctl forget --keep-daily 7 --dry-run`.',
      });
    }
    const options = { policy, filter: snapshotFilter(flags), dryRun: flags['dry-run'] };
    const result = flags['dry-run']
      ? await this.withRepository((session) => forget(session.repo, session.cache, options))
      : await this.withAdminRepository(flags.profile, 'forget', (session) =>
          forget(session.repo, session.cache, options),
        );
    if (this.jsonMode) return this.printJson(result);
    this.render(result);
  }

  private render(result: ForgetResult): void {
    for (const group of result.groups) {
      this.say(`host ${group.host}, paths ${group.paths.join(', ')}:`);
      const rows = [
        ...group.keep.map((s) => [
          s.shortId,
          localTime(s.time),
          'keep',
          s.tags.join(','),
          s.reasons.join(', '),
        ]),
        ...group.remove.map((s) => [
          s.shortId,
          localTime(s.time),
          result.dryRun ? 'would remove' : 'removed',
          s.tags.join(','),
          '',
        ]),
      ].sort((a, b) => (b[1]! < a[1]! ? -1 : 1));
      this.say(table([['ID', 'TIME', 'ACTION', 'TAGS', 'REASONS'], ...rows]));
      this.say(
        `${group.keep.length} kept, ${group.remove.length} ${result.dryRun ? 'to remove' : 'removed'}`,
      );
      this.say();
    }
    if (result.groups.length === 0) this.say('No snapshots match.');
    else if (!result.dryRun && result.removed.length > 0)
      this.say('Run `backupctl prune` to free the data only these snapshots used.');
  }
}
