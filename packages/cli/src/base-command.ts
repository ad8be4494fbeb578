import {
  BackupctlError,
  type DeviceConfig,
  type Environment,
  errorMessage,
  explainSystemError,
  KeychainSecretStore,
  loadDeviceConfig,
  openSession,
  readEnvironment,
  type SecretStore,
  type Session,
  withDeviceHealth,
} from '@backupctl/core';
import { type AdminClients, type AdminCredentialsOptions, adminClients } from '@backupctl/stack';
import { Command, Flags, type Interfaces } from '@oclif/core';
import { ExitCodes, exitCodeFor } from './exit-codes.js';
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
  };

  protected jsonMode = false;
  protected warnings: string[] = [];

  override async init(): Promise<void> {
    this.jsonMode = this.argv.includes('--json');
    await super.init();
  }

  /**
   * The OS keychain. Tests that run commands in-process where no keychain exists replace
   * the factory (`BaseCommand.secretStoreFactory`); the binary always uses the keychain.
   */
  static secretStoreFactory: () => SecretStore = () => new KeychainSecretStore();

  protected secretStore(): SecretStore {
    return BaseCommand.secretStoreFactory();
  }

  /**
   * The owner's admin clients (admin commands only; never for a device call). Tests that run
   * commands in-process hand in clients whose control plane is mocked.
   */
  static adminClientsFactory: (options: AdminCredentialsOptions & { region?: string }) => AdminClients =
    adminClients;

  /** Waiting on AWS (propagation, alarms); in-process tests pass a virtual clock. */
  static clock: { sleep: (ms: number) => Promise<void>; now: () => number } = {
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: () => Date.now(),
  };

  /** Admin clients for a region, one set per region. */
  protected adminClientsFor(profile: string | undefined): (region?: string) => AdminClients {
    const cache = new Map<string, AdminClients>();
    return (region?: string) => {
      const key = region ?? '';
      let clients = cache.get(key);
      if (!clients) {
        clients = BaseCommand.adminClientsFactory({
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
      keychain: this.secretStore(),
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
  ): Promise<T> {
    const config = await this.deviceConfig(env);
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
        keychain: this.secretStore(),
      },
    );
  }

  /**
   * Objects that failed authentication were left aside (the rest stayed usable): say so,
   * whatever the command. `check` lists them as problems too (and exits 25).
   */
  private reportRejected(session: Session): void {
    if (this.id === 'check') return;
    for (const r of session.repo.rejected.values()) {
      this.warnUser(
        `${r.key} fails authentication and was left aside (a foreign or damaged ${r.kind === 'key' ? 'key file' : r.kind === 'index' ? 'index file' : 'snapshot'}): run \`backupctl check --read-data\``,
      );
    }
  }

  /** Human output: only when not in --json mode, and on stderr-free stdout. */
  protected say(message = ''): void {
    if (!this.jsonMode) this.log(message);
  }

  protected warnUser(message: string): void {
    this.warnings.push(message);
    if (!this.jsonMode) process.stderr.write(`warning: ${message}\n`);
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
    const exitCode = exitCodeFor(error);
    const code = BackupctlError.is(error) ? error.code : exitCode === ExitCodes.usage ? 'USAGE' : 'INTERNAL';
    const resolution = BackupctlError.is(error) ? error.resolution : undefined;
    const message = errorMessage(error).split('\nSee more help with')[0] ?? errorMessage(error);
    if (this.jsonMode) {
      this.printJson({
        error: { code, message, resolution, details: BackupctlError.is(error) ? error.details : undefined },
        exitCode,
      });
    } else {
      process.stderr.write(`error: ${message}\n`);
      if (resolution) process.stderr.write(`  next: ${resolution}\n`);
      if (exitCode === ExitCodes.usage)
        process.stderr.write(`  see: backupctl ${(this.id ?? '').replaceAll(':', ' ')} --help\n`);
      if (code === 'INTERNAL' && process.env.BACKUPCTL_DEBUG) process.stderr.write(`${error.stack}\n`);
    }
    process.exitCode = exitCode;
    this.exit(exitCode);
  }
}
