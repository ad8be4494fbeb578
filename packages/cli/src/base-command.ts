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
  type Session,
  withDeviceHealth,
} from '@backupctl/core';
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
      keychain: new KeychainSecretStore(),
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
    return withDeviceHealth(env, config, async () => {
      const session = await this.session(env, config);
      try {
        return await work(session);
      } finally {
        this.reportRejected(session);
      }
    });
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
