import {
  BackupctlError,
  type DeviceConfig,
  type Environment,
  ErrorCodes,
  explainSystemError,
  isS3Repository,
  keychainForConfig,
  loadDeviceConfig,
  openSession,
  type RejectedObject,
  RepoCache,
  Repository,
  readEnvironment,
  resolvePassword,
  type SecretStore,
  type Session,
  withDeviceHealth,
} from '@backupctl/core';
import type { AdminClients, AdminCredentialsOptions } from '@backupctl/stack';
import { Command, Flags, type Interfaces } from '@oclif/core';
import { printError } from './render/errors.js';
import { installInterruptHandler } from './render/interrupt.js';
import { promptHidden } from './render/prompt.js';

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<
  (typeof BaseCommand)['baseFlags'] & T['flags']
>;

/**
 * Owns what every command shares: `--json` (one JSON document on stdout, the command's
 * result), the mapping of every error to an exit code and a next step, in one `catch`,
 * and opening the device's repository. Commands parse, call one SDK function, render.
 */
export abstract class BaseCommand extends Command {
  static override baseFlags = {
    json: Flags.boolean({ description: 'Print one machine-readable JSON document.', default: false }),
    quiet: Flags.boolean({
      char: 'q',
      description: 'Print only warnings, errors and the result a script needs (no progress, no notes).',
      default: false,
      exclusive: ['verbose'],
    }),
    verbose: Flags.boolean({
      char: 'v',
      description:
        'Say more: (push) the files as they are read. (Version: --version or `backupctl version`.)',
      default: false,
    }),
    keychain: Flags.boolean({
      description:
        'Read secrets from the OS keychain when the device config says so (--no-keychain: only BACKUPCTL_PASSWORD, the systemd credential "backupctl-password", or a prompt).',
      default: true,
      allowNo: true,
    }),
  };

  protected jsonMode = false;
  protected quiet = false;
  protected verbose = false;
  /** Started by a systemd timer (JOURNAL_STREAM): plain lines with syslog priority prefixes. */
  protected journal = false;
  /** False with --no-keychain: the keychain is never consulted. */
  protected useKeychain = true;
  protected warnings: string[] = [];

  override async init(): Promise<void> {
    this.jsonMode = this.argv.includes('--json');
    this.quiet = this.argv.includes('-q') || this.argv.includes('--quiet');
    this.verbose = !this.quiet && (this.argv.includes('-v') || this.argv.includes('--verbose'));
    this.journal = Boolean(process.env.JOURNAL_STREAM);
    this.useKeychain = !this.argv.includes('--no-keychain');
    installInterruptHandler({ json: this.jsonMode });
    await super.init();
  }

  /**
   * The OS keychain. Tests that run commands in-process where no keychain exists replace
   * the factory (`BaseCommand.secretStoreFactory`); the binary always uses the keychain.
   */
  static secretStoreFactory: (config?: Pick<DeviceConfig, 'secrets'>) => SecretStore = (config) =>
    keychainForConfig(config ?? {});

  /** The keychain through the driver the device config asks for (`secrets.keychain`). */
  protected secretStore(config?: Pick<DeviceConfig, 'secrets'>): SecretStore {
    return BaseCommand.secretStoreFactory(config);
  }

  /**
   * The owner's admin clients (admin commands only; never for a device call). Tests that run
   * commands in-process hand in clients whose control plane is mocked.
   */
  /** Tests set it; by default `@backupctl/stack`'s, loaded by the admin commands only (cold start). */
  static adminClientsFactory:
    | ((options: AdminCredentialsOptions & { region?: string }) => AdminClients)
    | undefined;

  /** Waiting on AWS (propagation, alarms); in-process tests pass a virtual clock. */
  static clock: { sleep: (ms: number) => Promise<void>; now: () => number } = {
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: () => Date.now(),
  };

  /** Admin clients for a region, one set per region. */
  protected async adminClientsFor(profile: string | undefined): Promise<(region?: string) => AdminClients> {
    const factory = BaseCommand.adminClientsFactory ?? (await import('@backupctl/stack')).adminClients;
    const cache = new Map<string, AdminClients>();
    return (region?: string) => {
      const key = region ?? '';
      let clients = cache.get(key);
      if (!clients) {
        clients = factory({
          ...(profile ? { profile } : {}),
          ...(region ? { region } : {}),
        });
        cache.set(key, clients);
      }
      return clients;
    };
  }

  protected environment(): Environment {
    return readEnvironment();
  }

  protected async deviceConfig(env: Environment): Promise<DeviceConfig> {
    return loadDeviceConfig(env.configDir);
  }

  protected async session(env = this.environment(), config?: DeviceConfig): Promise<Session> {
    return openSession({
      env,
      config: config ?? (await this.deviceConfig(env)),
      keychain: this.useKeychain ? (c: DeviceConfig) => this.secretStore(c) : undefined,
      promptPassword:
        process.stdin.isTTY && !this.jsonMode ? () => promptHidden('Repository passphrase: ') : undefined,
    });
  }

  /**
   * Opens the device's repository and runs one SDK operation on it, keeping the saved
   * health state equal to the latest answer and turning AWS failures into coded errors.
   */
  protected async withRepository<T>(
    work: (session: Session) => Promise<T>,
    env = this.environment(),
    /** The device config the command has already read (read and validated once). */
    loaded?: DeviceConfig,
  ): Promise<T> {
    const config = loaded ?? (await this.deviceConfig(env));
    return withDeviceHealth(
      env,
      config,
      async () => {
        const session = await this.session(env, config);
        try {
          return await work(session);
        } finally {
          this.reportRejected(session);
        }
      },
      {
        keychain: this.useKeychain ? this.secretStore(config) : undefined,
      },
    );
  }

  /**
   * Objects that failed authentication were left aside (the rest stayed usable): say so,
   * whatever the command. `check` lists them as problems too (and exits 25).
   */
  private reportRejected(session: Session): void {
    this.rejectedObjects = [...session.repo.rejected.values()];
    if (this.id === 'check') return;
    for (const r of session.repo.rejected.values()) {
      this.warnUser(
        `${r.key} fails authentication and was left aside (${r.kind === 'key' ? 'a foreign or damaged key file' : r.kind === 'index' ? 'a foreign or damaged index file' : r.kind === 'prune' ? 'a foreign or damaged prune marker' : 'a foreign or damaged snapshot, or an older snapshot put under a newer name (a rollback)'}): run \`backupctl check --read-data\``,
      );
    }
  }

  /** Objects the last repository session set aside (failed authentication), for `--json`. */
  protected rejectedObjects: RejectedObject[] = [];

  /**
   * Opens the repository for an owner's operation that deletes (forget, prune). On S3 it
   * needs the admin profile (`--profile`, else the config's `guard.adminProfile`) and says so before
   * any request: the device key may not delete, and a denied DELETE would quarantine it.
   */
  protected async withAdminRepository<T>(
    profileFlag: string | undefined,
    what: string,
    work: (session: Session) => Promise<T>,
  ): Promise<T> {
    const env = this.environment();
    const config = await this.deviceConfig(env);
    const profile = profileFlag ?? config.guard?.adminProfile;
    if (isS3Repository(config.repository) && !profile) {
      throw new BackupctlError(
        ErrorCodes.adminRequired,
        `${what} deletes objects in ${config.repository}, which this device's key may not do — no request was made`,
        {
          resolution: `Run it with the owner's admin credentials: \`backupctl ${what} --profile ADMIN_PROFILE\` (or the profile \`init --bucket\` recorded). Add --dry-run to only see what it would do.`,
        },
      );
    }
    const { openAdminBackend } = await import('@backupctl/stack');
    const backend = await openAdminBackend(config, profile ? { profile } : {});
    const password = await resolvePassword({
      env,
      config,
      keychain: this.useKeychain ? this.secretStore(config) : undefined,
      promptPassword:
        process.stdin.isTTY && !this.jsonMode ? () => promptHidden('Repository passphrase: ') : undefined,
    });
    const repo = await Repository.open(backend, password);
    return work({ env, config, backend, repo, cache: new RepoCache(env.cacheDir, repo.config.id) });
  }

  /** Human output: only when not in --json mode, and on stderr-free stdout. */
  protected say(message = ''): void {
    if (!this.jsonMode) this.log(message);
  }

  /** Notes a person may like and a script does not need: not with --quiet. */
  protected note(message = ''): void {
    if (!this.jsonMode && !this.quiet) this.log(message);
  }

  /** Details for --verbose, on stderr (stdout stays the result). */
  protected detail(message: string): void {
    if (this.verbose && !this.jsonMode) process.stderr.write(`${message}\n`);
  }

  protected warnUser(message: string): void {
    this.warnings.push(message);
    // <4>: the journal's "warning" priority, so `journalctl -p warning` finds it.
    if (!this.jsonMode) process.stderr.write(`${this.journal ? '<4>' : ''}warning: ${message}\n`);
  }

  protected printJson(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  protected override async catch(raw: Error & { exitCode?: number }): Promise<unknown> {
    // `this.exit(n)` (push's 3, check's 25) throws oclif's ExitError: the command has
    // already rendered its result, so pass the code through untouched.
    // oclif's own successful exits (help, version) carry their own handling.
    if (
      (raw as { code?: unknown }).code === 'EEXIT' ||
      (raw as { oclif?: { exit?: number } }).oclif?.exit === 0
    ) {
      throw raw;
    }
    // A raw ENOSPC / ENOENT / JSON error gets its message and code here, once.
    const error: Error = explainSystemError(raw) ?? raw;
    const exitCode = printError(error, this.jsonMode, this.id);
    process.exitCode = exitCode;
    this.exit(exitCode);
  }
}
