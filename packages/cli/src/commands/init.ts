import {
  BackupctlError,
  checkInit,
  checkPassphrase,
  DEFAULT_KEYCHAIN_DRIVER,
  ErrorCodes,
  initDevice,
  KEYCHAIN_DRIVERS,
  KeychainSecretStore,
  withDeviceHealth,
} from '@backupctl/core';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { promptHidden } from '../render/prompt.js';

export default class Init extends BaseCommand {
  static override summary = 'Set up this device: create (or join) a repository and write the device config.';
  static override description =
    `The repository is a local folder or s3://BUCKET/PREFIX (AWS, or any S3-compatible store with --endpoint; credentials from the usual AWS chain). The passphrase comes from BACKUPCTL_PASSWORD or is asked in a terminal, and is stored in the OS keychain so that timers can push without a person.

The config goes to the XDG config folder (BACKUPCTL_CONFIG_DIR overrides it).`;
  static override examples = [
    '<%= config.bin %> init --repo ~/backups --path ~/Documents',
    '<%= config.bin %> init --repo s3://my-backups/devices/laptop --path ~ --exclude node_modules',
    'BACKUPCTL_PASSWORD=… <%= config.bin %> init --repo s3://bucket/p --endpoint http://127.0.0.1:9000 --no-keychain',
  ];
  static override flags = {
    repo: Flags.string({ description: 'Repository: a folder or s3://bucket/prefix.', required: true }),
    endpoint: Flags.string({ description: 'S3-compatible endpoint URL (path-style addressing).' }),
    region: Flags.string({ description: 'AWS region of the bucket.' }),
    path: Flags.string({
      description: 'A path `push` backs up by default (repeatable; it must exist).',
      multiple: true,
      multipleNonGreedy: true,
      default: [],
    }),
    exclude: Flags.string({
      description: 'Glob to exclude by default (repeatable).',
      multiple: true,
      multipleNonGreedy: true,
      default: [],
    }),
    keychain: Flags.boolean({
      description:
        'Store the passphrase in the OS keychain (--no-keychain: BACKUPCTL_PASSWORD or the systemd credential "backupctl-password" supply it).',
      default: true,
      allowNo: true,
    }),
    'keychain-driver': Flags.string({
      description: `The keychain driver, recorded in the device config as secrets.keychain (default ${DEFAULT_KEYCHAIN_DRIVER}; keytar must be installed separately).`,
      options: [...KEYCHAIN_DRIVERS],
    }),
    force: Flags.boolean({
      description: 'Set up a device that is already set up again (its config is replaced).',
      default: false,
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Init);
    const env = this.environment();
    // Everything that can be refused is refused before anything is asked.
    await checkInit({
      configDir: env.configDir,
      repository: flags.repo,
      paths: flags.path,
      force: flags.force,
    });
    if (env.password !== undefined) checkPassphrase(env.password, 'environment');
    const driver = flags['keychain-driver'] as (typeof KEYCHAIN_DRIVERS)[number] | undefined;
    let keychain: KeychainSecretStore | undefined;
    if (flags.keychain) {
      // Unreachable keychain: one clear message (exit 12) before any passphrase prompt.
      keychain = new KeychainSecretStore({ driver });
      await keychain.probe();
    }
    const password = env.password ?? (await this.askPassword());
    const target = { repository: flags.repo, endpoint: flags.endpoint, region: flags.region };
    const result = await withDeviceHealth(env, target, () =>
      initDevice({
        env,
        repository: flags.repo,
        endpoint: flags.endpoint,
        region: flags.region,
        paths: flags.path,
        excludes: flags.exclude,
        password,
        keychain,
        force: flags.force,
        keychainDriver: driver,
      }),
    );
    if (this.jsonMode) return this.printJson({ ...result, warnings: this.warnings });
    this.say(
      `${result.created ? 'Created' : 'Joined existing'} repository ${result.repositoryId.slice(0, 8)} at ${result.repository}`,
    );
    this.say(`Device config: ${result.configFile}`);
    this.say(
      `Passphrase: ${result.passwordSource === 'keychain' ? 'stored in the OS keychain' : 'from the environment (BACKUPCTL_PASSWORD)'}`,
    );
    this.say('Keep the passphrase somewhere safe: without it, no one can restore these backups.');
  }

  private async askPassword(): Promise<string> {
    if (!process.stdin.isTTY || this.jsonMode) {
      throw new BackupctlError(ErrorCodes.passwordMissing, 'no passphrase given', {
        resolution: 'Set BACKUPCTL_PASSWORD, or run `backupctl init` in a terminal to be asked.',
      });
    }
    const first = await promptHidden('New repository passphrase: ');
    const second = await promptHidden('Repeat it: ');
    if (first !== second) throw new BackupctlError(ErrorCodes.usage, 'the two passphrases differ');
    checkPassphrase(first, 'prompt');
    return first;
  }
}
