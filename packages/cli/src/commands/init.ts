import {
  BackupctlError,
  checkInit,
  checkPassphrase,
  DEFAULT_KEYCHAIN_DRIVER,
  ErrorCodes,
  initDevice,
  isS3Repository,
  KEYCHAIN_DRIVERS,
  type KeychainDriverName,
  type SecretStore,
  withDeviceHealth,
} from '@backupctl/core';
import { initGuardedDevice, NotConfirmedError } from '@backupctl/stack';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { formatGuardEvent, formatInitSummary } from '../render/guard-events.js';
import { confirm, promptHidden } from '../render/prompt.js';

export default class Init extends BaseCommand {
  static override summary =
    'Set up this device: on AWS with its guard (--bucket), or a repository in a folder (--repo).';
  static override description =
    `With --bucket (the owner's admin credentials: --profile, SSO, or the environment), in order: checks the CloudTrail trail the guard needs (or creates one with --create-trail) and turns on S3 data events for this bucket only (unless --no-data-events); checks the bucket (or creates it with --create-bucket); deploys or updates the guard stack; creates the device's IAM user, its access key (straight into the OS keychain) and, once a probe works, its alarm; creates the repository at s3://BUCKET/devices/DEVICE/. Each step is shown as it happens; a re-run after a failure resumes. --dry-run prints the plan and changes nothing.

With --repo: a local folder, or s3://BUCKET/PREFIX on an S3-compatible store (--endpoint; the key from BACKUPCTL_AWS_ACCESS_KEY_ID/BACKUPCTL_AWS_SECRET_ACCESS_KEY). The passphrase comes from BACKUPCTL_PASSWORD or is asked in a terminal, and is stored in the OS keychain so that timers can push without a person.

The config goes to the XDG config folder (BACKUPCTL_CONFIG_DIR overrides it).`;
  static override examples = [
    '<%= config.bin %> init --bucket my-backups --profile admin --email me@example.com --path ~',
    '<%= config.bin %> init --bucket my-backups --create-bucket --create-trail --region eu-west-1 --dry-run',
    '<%= config.bin %> init --repo ~/backups --path ~/Documents',
    'BACKUPCTL_PASSWORD=… <%= config.bin %> init --repo s3://bucket/p --endpoint http://127.0.0.1:9000 --no-keychain',
  ];
  static override flags = {
    repo: Flags.string({
      description: 'Repository without a guard: a folder, or s3://bucket/prefix with --endpoint.',
      exactlyOne: ['repo', 'bucket'],
    }),
    bucket: Flags.string({
      description:
        'The S3 bucket of the backups (AWS): sets up the guard and this device under devices/DEVICE/.',
      exactlyOne: ['repo', 'bucket'],
    }),
    device: Flags.string({ description: 'Device name (default: the host name).', dependsOn: ['bucket'] }),
    profile: Flags.string({
      description:
        "AWS profile with the owner's admin credentials (SSO works); recorded for later admin commands.",
    }),
    email: Flags.string({ description: 'E-mail address told of every quarantine.', dependsOn: ['bucket'] }),
    'create-bucket': Flags.boolean({
      description: 'Create the bucket when it does not exist.',
      default: false,
    }),
    'noncurrent-days': Flags.integer({
      description:
        'With --create-bucket: a lifecycle rule deletes versions made noncurrent (by prune or forget) after N days; until then they can still be brought back.',
      min: 1,
      dependsOn: ['create-bucket'],
    }),
    'create-trail': Flags.boolean({
      description: 'Create a multi-region trail delivering to CloudWatch Logs when none is usable.',
      default: false,
    }),
    'data-events': Flags.boolean({
      description: 'Log S3 data events of this bucket (costs $0.10 per 100,000).',
      default: true,
      allowNo: true,
    }),
    'dry-run': Flags.boolean({ description: 'Print the plan; change nothing.', default: false }),
    yes: Flags.boolean({ description: 'Do not ask for confirmation.', default: false }),
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
    const preflightEnv = this.environment();
    // Everything that can be refused is refused before anything is asked or changed.
    const guarded = flags.bucket !== undefined;
    await checkInit({
      configDir: preflightEnv.configDir,
      repository:
        flags.repo ?? `s3://${flags.bucket}/devices/${flags.device ?? defaultDeviceName(preflightEnv.host)}/`,
      paths: flags.path,
      force: flags.force,
      // init --bucket again for the same device resumes (each step is idempotent).
      resumable: guarded,
    });
    if (preflightEnv.password !== undefined) checkPassphrase(preflightEnv.password, 'environment');
    if (guarded) return this.runGuarded(flags as GuardedFlags);
    const repo = flags.repo ?? '';
    if (
      isS3Repository(repo) &&
      !flags.endpoint &&
      !/^s3:\/\/[^/]+\/devices\/[A-Za-z0-9][A-Za-z0-9._-]*\/?$/.test(repo)
    ) {
      throw new BackupctlError(
        ErrorCodes.usage,
        `${repo}: on AWS a device's repository is always s3://BUCKET/devices/DEVICE/`,
        {
          resolution:
            'The device policy allows nothing else: any other prefix would quarantine the device on its first push. Use `backupctl init --bucket BUCKET` (it sets up the guard too).',
        },
      );
    }
    const env = this.environment();
    const driver = flags['keychain-driver'] as KeychainDriverName | undefined;
    let keychain: SecretStore | undefined;
    if (flags.keychain) {
      // Unreachable keychain: one clear message (exit 12) before any passphrase prompt.
      keychain = this.secretStore(driver ? { secrets: { keychain: driver } } : {});
      await keychain.get('probe');
    }
    const password = env.password ?? (await this.askPassword());
    const target = { repository: repo, endpoint: flags.endpoint, region: flags.region };
    const result = await withDeviceHealth(env, target, () =>
      initDevice({
        env,
        repository: repo,
        endpoint: flags.endpoint,
        region: flags.region,
        paths: flags.path,
        excludes: flags.exclude,
        password,
        keychain,
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

  private async runGuarded(flags: GuardedFlags): Promise<void> {
    const env = this.environment();
    const device = flags.device ?? defaultDeviceName(env.host);
    const dryRun = flags['dry-run'];
    const driver = flags['keychain-driver'] as KeychainDriverName | undefined;
    const store = this.secretStore(driver ? { secrets: { keychain: driver } } : {});
    // The device key goes nowhere but the keychain: make sure it answers before AWS changes
    // (and before any passphrase prompt).
    if (!dryRun) await store.get('probe');
    const forRegion = await this.adminClientsFor(flags.profile);
    const clients = (region?: string) => forRegion(region ?? flags.region);
    const common = {
      env,
      clients,
      bucket: flags.bucket,
      device,
      ...(flags.profile ? { profile: flags.profile } : {}),
      ...(flags.region ? { region: flags.region } : {}),
      ...(flags.email ? { email: flags.email } : {}),
      createBucket: flags['create-bucket'],
      ...(flags['noncurrent-days'] === undefined ? {} : { noncurrentDays: flags['noncurrent-days'] }),
      createTrail: flags['create-trail'],
      dataEvents: flags['data-events'],
      paths: flags.path,
      excludes: flags.exclude,
      store,
      ...(driver ? { keychainDriver: driver } : {}),
      ...(flags.endpoint ? { endpoint: flags.endpoint } : {}),
      sleep: BaseCommand.clock.sleep,
      now: BaseCommand.clock.now,
      onEvent: (event: Parameters<typeof formatGuardEvent>[0]) => {
        const line = formatGuardEvent(event);
        if (line !== undefined && !this.jsonMode) process.stderr.write(`${line}\n`);
        if (event.type === 'warn') this.warnings.push(event.text);
      },
    };
    // Without --yes: the plan first (read-only calls), then, confirmed, the changes.
    if (dryRun || !flags.yes) {
      const plan = await initGuardedDevice({ ...common, dryRun: true });
      if (dryRun) {
        if (this.jsonMode) return this.printJson({ ...plan, warnings: this.warnings });
        for (const line of formatInitSummary(plan)) this.say(line);
        return;
      }
      for (const line of formatInitSummary(plan)) this.say(line);
      if (
        !(await confirm(
          `Set up the guard and device ${device} in account ${plan.accountId} (${plan.region})?`,
          this.jsonMode,
        ))
      )
        throw new NotConfirmedError(`init --bucket ${flags.bucket}`);
    }
    const password = env.password ?? (await this.askPassword());
    this.warnings = [];
    const result = await initGuardedDevice({ ...common, password });
    if (this.jsonMode) return this.printJson({ ...result, warnings: this.warnings });
    for (const line of formatInitSummary(result)) this.say(line);
    this.say('');
    this.say(`Device config: ${result.init?.configFile}`);
    this.say(
      'Keep a copy of the passphrase somewhere safe, away from this device (a password manager, paper in a drawer): without it, no one can restore these backups.',
    );
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

type GuardedFlags = {
  bucket: string;
  device?: string;
  profile?: string;
  region?: string;
  email?: string;
  endpoint?: string;
  'create-bucket': boolean;
  'noncurrent-days'?: number;
  'create-trail': boolean;
  'data-events': boolean;
  'dry-run': boolean;
  yes: boolean;
  path: string[];
  exclude: string[];
  'keychain-driver'?: string;
};

/** A device name from the host name: what IAM and the device prefix accept. */
export function defaultDeviceName(host: string): string {
  const name = host
    .split('.')[0]!
    .toLowerCase()
    .replace(/[^a-z0-9._-]/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 48);
  return name || 'device';
}
