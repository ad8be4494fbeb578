import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import { credentialValue, type SecretStore } from './secret-store.js';

abstract class ReadOnlyStore implements SecretStore {
  abstract readonly name: string;
  readonly writable = false;
  abstract get(account: string): Promise<string | undefined>;
  async set(): Promise<void> {
    throw new BackupctlError(ErrorCodes.secretStoreUnavailable, `${this.name} secrets are read-only`);
  }
  async delete(): Promise<boolean> {
    return false;
  }
}

/** Secrets handed in by the environment (CI, scripts): fixed values by account. */
export class EnvironmentSecretStore extends ReadOnlyStore {
  readonly name = 'environment';
  constructor(private readonly values: (account: string) => string | undefined) {
    super();
  }
  async get(account: string): Promise<string | undefined> {
    return this.values(account);
  }
}

/**
 * systemd credentials: files in `$CREDENTIALS_DIRECTORY` that systemd decrypts for the
 * service (LoadCredentialEncrypted=), readable only by it, gone when it stops.
 */
export class SystemdCredentialStore extends ReadOnlyStore {
  readonly name = 'systemd-credentials';
  constructor(
    private readonly directory: string,
    private readonly fileFor: (account: string) => string | undefined,
  ) {
    super();
  }
  async get(account: string): Promise<string | undefined> {
    const file = this.fileFor(account);
    if (!file) return undefined;
    try {
      return credentialValue(await fs.readFile(path.join(this.directory, file), 'utf8'));
    } catch {
      return undefined;
    }
  }
}
