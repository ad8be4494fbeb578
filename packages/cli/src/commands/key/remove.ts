import { removeKey } from '@backupctl/core';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

export default class KeyRemove extends BaseCommand {
  static override summary = 'Remove a key file (a passphrase no longer wanted).';
  static override description =
    'Never the key your passphrase opens, never the last one. On S3 this deletes an object: it runs with the owner’s admin profile (--profile, or the profile that init --bucket recorded) and stops before any request without one (exit 45).';
  static override examples = [
    '<%= config.bin %> key remove 1a2b3c4d',
    '<%= config.bin %> key remove 1a2b3c4d --profile admin',
  ];
  static override args = {
    id: Args.string({ description: 'Key id (at least 4 characters).', required: true }),
  };
  static override flags = {
    profile: Flags.string({
      description: 'AWS profile with the owner’s admin credentials (S3 repositories).',
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(KeyRemove);
    const removed = await this.withAdminRepository(flags.profile, 'key remove', (session) =>
      removeKey(session.repo, session.backend as Parameters<typeof removeKey>[1], args.id),
    );
    if (this.jsonMode) return this.printJson({ removed });
    this.say(`removed key ${removed.slice(0, 8)}`);
  }
}
