import { BackupctlError, type Environment, ErrorCodes } from '@backupctl/core';
import { promptHidden } from './prompt.js';

/** The new passphrase: BACKUPCTL_NEW_PASSWORD, or asked twice on a terminal. */
export async function newPassphrase(env: Environment, interactive: boolean): Promise<string> {
  if (env.newPassword) return env.newPassword;
  if (!interactive) {
    throw new BackupctlError(ErrorCodes.passwordMissing, 'no new passphrase given', {
      resolution: 'Set BACKUPCTL_NEW_PASSWORD, or run in a terminal to be asked.',
    });
  }
  const first = await promptHidden('New passphrase: ');
  const again = await promptHidden('Repeat the new passphrase: ');
  if (first !== again) {
    throw new BackupctlError(ErrorCodes.usage, 'the two passphrases differ', { resolution: 'Run it again.' });
  }
  return first;
}
