import { addKey, BackupctlError, isS3Repository, passwordAccount, removeKey } from '@backupctl/core';
import { openAdminBackend } from '@backupctl/stack';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { newPassphrase } from '../../render/new-passphrase.js';

interface PasswdResult {
  added: string;
  /** The old key file, removed — or kept (with the reason), so that access is never lost. */
  oldKey: string;
  oldKeyRemoved: boolean;
  keychainUpdated: boolean;
  note?: string;
}

export default class KeyPasswd extends BaseCommand {
  static override summary = 'Change the repository passphrase.';
  static override description =
    `In this order, so access is never lost: the new key file is written and opened with the new passphrase; the keychain (when the device keeps the passphrase there) is updated; only then is the old key file removed.

On S3 removing the old key file needs the owner's admin profile (--profile, or the profile that init --bucket recorded). Without one, the old key file is kept — the old passphrase keeps working — and the command says how to remove it later.`;
  static override examples = [
    '<%= config.bin %> key passwd',
    'BACKUPCTL_NEW_PASSWORD=… <%= config.bin %> key passwd --profile admin --json',
  ];
  static override flags = {
    profile: Flags.string({
      description: 'AWS profile with the owner’s admin credentials (S3: remove the old key file).',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(KeyPasswd);
    const env = this.environment();
    const config = await this.deviceConfig(env);
    const interactive = Boolean(process.stdin.isTTY) && !this.jsonMode;
    const result = await this.withRepository(async (session): Promise<PasswdResult> => {
      const oldKey = session.repo.keyId!;
      const passphrase = await newPassphrase(env, interactive);
      const added = await addKey(session.repo, passphrase, { host: env.host });
      let keychainUpdated = false;
      if (config.passwordSource === 'keychain') {
        try {
          await this.secretStore(config).set(passwordAccount(config.repository), passphrase);
          keychainUpdated = true;
        } catch (error) {
          throw new BackupctlError(
            'SECRET_STORE_UNAVAILABLE',
            `the new key ${added.shortId} was added, but the keychain could not be updated: ${(error as Error).message}`,
            {
              resolution: `Both passphrases open the repository; the old key file ${oldKey.slice(0, 8)} was kept. Fix the keychain and run \`backupctl key passwd\` again.`,
            },
          );
        }
      }
      const profile = flags.profile ?? config.guard?.adminProfile;
      if (isS3Repository(config.repository) && !profile) {
        return {
          added: added.id,
          oldKey,
          oldKeyRemoved: false,
          keychainUpdated,
          note: `the old key file ${oldKey.slice(0, 8)} was kept — the device key may not delete, so the old passphrase still opens the repository. Remove it with \`backupctl key remove ${oldKey.slice(0, 8)} --profile ADMIN_PROFILE\`.`,
        };
      }
      const deleter = await openAdminBackend(config, profile ? { profile } : {});
      await removeKey(session.repo, deleter, oldKey, { replacedBy: added.id });
      return { added: added.id, oldKey, oldKeyRemoved: true, keychainUpdated };
    }, env);
    if (this.jsonMode) return this.printJson(result);
    this.say(`passphrase changed: new key ${result.added.slice(0, 8)}`);
    if (result.keychainUpdated) this.say('  the keychain holds the new passphrase');
    if (result.oldKeyRemoved)
      this.say(`  old key ${result.oldKey.slice(0, 8)} removed: the old passphrase no longer works`);
    if (!result.keychainUpdated)
      this.say(
        '  give the new passphrase where this device reads it (BACKUPCTL_PASSWORD or the systemd credential)',
      );
    if (result.note) this.warnUser(result.note);
  }
}
