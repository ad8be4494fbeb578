import { RepoCache } from '../cache/repo-cache.js';
import type { DeviceConfig } from '../config/device-config.js';
import type { Environment } from '../config/environment.js';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import { Repository } from '../repository/repository.js';
import { resolveDeviceKey } from '../secrets/device-key.js';
import { EnvironmentSecretStore, SystemdCredentialStore } from '../secrets/read-only-stores.js';
import { passwordAccount, type SecretStore, SYSTEMD_PASSWORD_CREDENTIAL } from '../secrets/secret-store.js';
import type { Backend } from '../storage/backend.js';
import { isS3Repository, type OpenBackendOptions, openBackend } from '../storage/open-backend.js';

export interface Session {
  env: Environment;
  config: DeviceConfig;
  backend: Backend;
  repo: Repository;
  cache: RepoCache;
}

export interface OpenSessionOptions extends OpenBackendOptions {
  env: Environment;
  config: DeviceConfig;
  /**
   * The keychain (or a test double), or how to make it from the device config (e.g.
   * `keychainForConfig`, which honours `secrets.keychain`); consulted when the config says
   * the keychain. Absent: the keychain is not used (`--no-keychain`).
   */
  keychain?: SecretStore | ((config: DeviceConfig) => SecretStore);
  /** Asks a person (TTY) as a last resort. */
  promptPassword?: () => Promise<string>;
}

/**
 * The passphrase, from the first source that has it: BACKUPCTL_PASSWORD, a systemd
 * credential, the keychain, then a prompt. Never from a file of ours.
 */
export async function resolvePassword(options: OpenSessionOptions): Promise<string> {
  const account = passwordAccount(options.config.repository);
  const stores: SecretStore[] = [new EnvironmentSecretStore(() => options.env.password)];
  if (options.env.credentialsDirectory) {
    stores.push(
      new SystemdCredentialStore(options.env.credentialsDirectory, (a) =>
        a === account ? SYSTEMD_PASSWORD_CREDENTIAL : undefined,
      ),
    );
  }
  const keychain = keychainOf(options);
  if (options.config.passwordSource === 'keychain' && keychain) stores.push(keychain);
  let keychainError: unknown;
  for (const store of stores) {
    try {
      const value = await store.get(account);
      if (value) return value;
    } catch (error) {
      keychainError = error;
    }
  }
  // A keychain that cannot be reached is said before any prompt: the person learns what to
  // fix (or --no-keychain) instead of typing a passphrase that would not be stored anyway.
  if (keychainError) throw keychainError;
  if (options.promptPassword) return options.promptPassword();
  throw new BackupctlError(ErrorCodes.passwordMissing, 'no repository passphrase available', {
    resolution:
      'Set BACKUPCTL_PASSWORD, provide the systemd credential "backupctl-password", or run in a terminal to be asked.',
  });
}

/**
 * The credentials of the device's S3 client: the caller's (tests), else the device key from
 * the secret store — never the SDK's default chain (it may hold the owner's admin keys).
 */
export async function deviceCredentials(
  options: Pick<OpenSessionOptions, 'env' | 'config' | 'keychain' | 'credentials'>,
): Promise<OpenBackendOptions['credentials']> {
  if (options.credentials !== undefined || !isS3Repository(options.config.repository))
    return options.credentials;
  return resolveDeviceKey({ ...options, keychain: keychainOf(options) });
}

/** The keychain of the options: given, or made from the device config. */
function keychainOf(options: Pick<OpenSessionOptions, 'config' | 'keychain'>): SecretStore | undefined {
  return typeof options.keychain === 'function' ? options.keychain(options.config) : options.keychain;
}

export async function openSession(options: OpenSessionOptions): Promise<Session> {
  const credentials = await deviceCredentials(options);
  const backend = await openBackend(options.config, {
    traceFile: options.env.awsTraceFile,
    timeoutMs: options.env.s3TimeoutMs,
    ...(options.env.aws ? { awsSetup: options.env.aws } : {}),
    ...options,
    ...(credentials ? { credentials } : {}),
  });
  const password = await resolvePassword(options);
  const repo = await Repository.open(backend, password);
  const cache = new RepoCache(options.env.cacheDir, repo.config.id);
  return { env: options.env, config: options.config, backend, repo, cache };
}
