import { addKey } from '@backupctl/core';
import { BaseCommand } from '../../base-command.js';
import { newPassphrase } from '../../render/new-passphrase.js';

export default class KeyAdd extends BaseCommand {
  static override summary = 'Add a passphrase: a second key file that opens the same repository.';
  static override description =
    'The new passphrase comes from BACKUPCTL_NEW_PASSWORD or is asked twice. Both passphrases then open the repository; the new key file is read back and opened before this reports success.';
  static override examples = [
    '<%= config.bin %> key add',
    'BACKUPCTL_NEW_PASSWORD=… <%= config.bin %> key add --json',
  ];

  async run(): Promise<void> {
    await this.parse(KeyAdd);
    const env = this.environment();
    const interactive = Boolean(process.stdin.isTTY) && !this.jsonMode;
    const result = await this.withRepository(async (session) =>
      addKey(session.repo, await newPassphrase(env, interactive), { host: env.host }),
    );
    if (this.jsonMode) return this.printJson(result);
    this.say(`added key ${result.shortId}: the new passphrase opens the repository, and so do the others`);
  }
}
