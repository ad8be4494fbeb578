import path from 'node:path';
import { type DeviceConfig, saveDeviceConfig } from '../config/device-config.js';
import type { Environment } from '../config/environment.js';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import { explainSetupError } from '../health/aws-setup.js';
import { Repository } from '../repository/repository.js';
import { passwordAccount, type SecretStore } from '../secrets/secret-store.js';
import {
  assertRepositoryLocation,
  isS3Repository,
  type OpenBackendOptions,
  openBackend,
} from '../storage/open-backend.js';
import { deviceCredentials } from './session.js';

export interface InitOptions extends OpenBackendOptions {
  env: Environment;
  repository: string;
  endpoint?: string;
  region?: string;
  paths?: string[];
  excludes?: string[];
  password: string;
  /** Store the passphrase here (the keychain) so timers can run without a person. */
  keychain?: SecretStore;
  /** The keychain driver to record in the config (`secrets.keychain`); default: none recorded. */
  keychainDriver?: 'keyring' | 'keytar';
  /** Pack size in bytes (tests use small packs). */
  packSize?: number;
  kdf?: { N: number; r: number; p: number };
  /** A guarded device (`init --bucket`): its name under `devices/` and where its guard lives. */
  device?: string;
  guard?: DeviceConfig['guard'];
}

export interface InitResult {
  repository: string;
  repositoryId: string;
  /** False when an existing repository was joined (a device set up again). */
  created: boolean;
  configFile: string;
  passwordSource: DeviceConfig['passwordSource'];
}

/**
 * Sets up this device: creates the repository (or joins an existing one the passphrase
 * opens) and writes the device config. The config is written last: a failed init leaves
 * the device as it was. Callers check first what `init` refuses (`checkInit`: a device
 * already set up, missing paths, a literal ~) before they ask for anything.
 */
export async function initDevice(options: InitOptions): Promise<InitResult> {
  // Before any path.resolve: '' or 'ftp://host/x' must never become a local folder.
  assertRepositoryLocation(options.repository);
  if (!options.password) {
    throw new BackupctlError(ErrorCodes.passwordMissing, 'a repository passphrase is required', {
      resolution: 'Set BACKUPCTL_PASSWORD or run in a terminal to be asked.',
    });
  }
  const repository = isS3Repository(options.repository)
    ? options.repository
    : path.resolve(options.repository);
  // Never the default chain: the device key given, or the one in the secret store / env.
  const credentials = await deviceCredentials({
    env: options.env,
    config: { repository, device: options.device } as DeviceConfig,
    keychain: options.keychain,
    credentials: options.credentials,
  });
  const backend = await openBackend(
    { repository, endpoint: options.endpoint, region: options.region },
    {
      traceFile: options.env.awsTraceFile,
      timeoutMs: options.env.s3TimeoutMs,
      ...(options.env.aws ? { awsSetup: options.env.aws } : {}),
      ...options,
      ...(credentials ? { credentials } : {}),
    },
  );
  let repo: Repository;
  let created = true;
  try {
    repo = await Repository.init(backend, options.password, {
      host: options.env.host,
      packSize: options.packSize,
      kdf: options.kdf,
    });
  } catch (error) {
    const setup = explainSetupError(error, {
      repository,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    });
    if (setup) throw setup;
    if (!(BackupctlError.is(error) && error.code === ErrorCodes.repoExists)) throw error;
    repo = await Repository.open(backend, options.password);
    created = false;
  }
  let passwordSource: DeviceConfig['passwordSource'] = 'environment';
  if (options.keychain) {
    await options.keychain.set(passwordAccount(repository), options.password);
    passwordSource = 'keychain';
  }
  const config: DeviceConfig = {
    version: 1,
    repository,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.region ? { region: options.region } : {}),
    paths: (options.paths ?? []).map((p) => path.resolve(p)),
    excludes: options.excludes ?? [],
    passwordSource,
    ...(options.keychainDriver ? { secrets: { keychain: options.keychainDriver } } : {}),
    ...(options.device ? { device: options.device } : {}),
    ...(options.guard ? { guard: options.guard } : {}),
  };
  const configFile = await saveDeviceConfig(options.env.configDir, config);
  return { repository, repositoryId: repo.config.id, created, configFile, passwordSource };
}
