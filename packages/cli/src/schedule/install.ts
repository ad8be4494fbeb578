import { promises as fs } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BackupctlError,
  type DeviceConfig,
  type Environment,
  ErrorCodes,
  encodeDeviceKey,
  isS3Repository,
  passwordAccount,
  resolveDeviceKey,
  type SecretStore,
  SYSTEMD_DEVICE_KEY_CREDENTIAL,
  SYSTEMD_PASSWORD_CREDENTIAL,
} from '@backupctl/core';
import { type Exec, exec, schedulerUnavailable, systemctlArgs, unitDirectory } from './systemd.js';
import {
  type CredentialSource,
  credentialFile,
  defaultCredentialDir,
  type Schedule,
  type ScheduleScope,
  type Unit,
  type UnitOptions,
} from './units.js';

/** The absolute path of this installation's bin/run.js (what ExecStart= runs with node). */
export function installedScript(): string {
  return path.resolve(fileURLToPath(new URL('../../bin/run.js', import.meta.url)));
}

/** The unit options for this device and installation. */
export function unitOptionsFor(
  env: Environment,
  schedule: Schedule,
  scope: ScheduleScope,
  credentials: CredentialSource,
  processEnv: NodeJS.ProcessEnv = process.env,
): UnitOptions {
  const environment: Record<string, string> = {};
  // A system service (or a user service with folders moved away) must be told where they are.
  if (scope === 'system' || processEnv.BACKUPCTL_CONFIG_DIR) environment.BACKUPCTL_CONFIG_DIR = env.configDir;
  if (scope === 'system' || processEnv.BACKUPCTL_CACHE_DIR) environment.BACKUPCTL_CACHE_DIR = env.cacheDir;
  return {
    schedule,
    scope,
    credentials,
    node: process.execPath,
    script: installedScript(),
    configDir: env.configDir,
    cacheDir: env.cacheDir,
    home: homedir(),
    ...(scope === 'system' ? { user: processEnv.SUDO_USER || userInfo().username } : {}),
    credentialDir: defaultCredentialDir(scope, env.configDir),
    environment,
  };
}

/** Schedule of an --on-calendar expression, checked (and its interval measured) by systemd-analyze. */
export async function scheduleFromCalendar(spec: string, run: Exec = exec): Promise<Schedule> {
  const result = await run('systemd-analyze', ['calendar', '--iterations=2', spec]);
  if (result.code === 127) return { onCalendar: spec };
  if (result.code !== 0) {
    throw new BackupctlError(ErrorCodes.usage, `--on-calendar ${spec}: not a systemd calendar expression`, {
      resolution: 'See `man systemd.time` ("Calendar Events"), e.g. --on-calendar "*-*-* 02:30" or hourly.',
    });
  }
  // "Next elapse: Tue 2026-12-01 13:00:00 UTC" / "Iter. #2: Tue 2026-12-01 14:00:00 UTC"
  const times = [...result.stdout.matchAll(/(?:Next elapse|Iter\. #\d+): \w+ (\S+ \S+)/g)].map((m) =>
    Date.parse(`${m[1]?.replace(' ', 'T')}`),
  );
  const [a, b] = times;
  return a !== undefined && b !== undefined && b > a
    ? { onCalendar: spec, intervalSeconds: Math.round((b - a) / 1000) }
    : { onCalendar: spec };
}

export interface CredentialSecrets {
  password: string;
  awsKey?: string;
}

/**
 * The secrets to hand to a system service: the passphrase (BACKUPCTL_PASSWORD, the keychain,
 * or a prompt) and the device's AWS key from the keychain, when it has one.
 */
export async function gatherSecrets(
  env: Environment,
  config: DeviceConfig,
  keychain: SecretStore,
  prompt?: () => Promise<string>,
): Promise<CredentialSecrets> {
  let password = env.password;
  let keychainError: unknown;
  if (!password)
    password = await keychain.get(passwordAccount(config.repository)).catch((e) => {
      keychainError = e;
      return undefined;
    });
  if (!password && prompt) password = await prompt();
  if (!password) {
    throw BackupctlError.is(keychainError)
      ? keychainError
      : new BackupctlError(
          ErrorCodes.passwordMissing,
          'no repository passphrase to encrypt for the service',
          {
            resolution:
              'Run it in a terminal (you are asked), or set BACKUPCTL_PASSWORD for this one command.',
          },
        );
  }
  // An S3 device signs only with its own key (never the SDK's default chain): the service
  // needs it, from BACKUPCTL_AWS_* or the keychain; resolveDeviceKey says what to do if absent.
  const awsKey = isS3Repository(config.repository)
    ? encodeDeviceKey(await resolveDeviceKey({ env, config, keychain }))
    : undefined;
  return { password, ...(awsKey ? { awsKey } : {}) };
}

/** `systemd-creds encrypt --name=NAME - FILE`, the secret on stdin (never in argv). */
export async function encryptCredential(
  name: string,
  secret: string,
  file: string,
  run: Exec = exec,
): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const result = await run('systemd-creds', ['encrypt', `--name=${name}`, '-', file], secret);
  if (result.code !== 0)
    throw schedulerUnavailable(`systemd-creds could not encrypt ${name}`, result, 'system');
}

export interface InstallResult {
  unitDirectory: string;
  written: string[];
  credentialFiles: string[];
}

export async function installUnits(
  units: Unit[],
  options: UnitOptions,
  secrets: CredentialSecrets | undefined,
  run: Exec = exec,
  dir = unitDirectory(options.scope),
): Promise<InstallResult> {
  const credentialFiles: string[] = [];
  if (options.credentials === 'systemd') {
    if (!secrets) throw new Error('credentials systemd needs the secrets');
    const credDir = options.credentialDir ?? defaultCredentialDir(options.scope, options.configDir);
    const pw = credentialFile(credDir, SYSTEMD_PASSWORD_CREDENTIAL);
    await encryptCredential(SYSTEMD_PASSWORD_CREDENTIAL, secrets.password, pw, run);
    credentialFiles.push(pw);
    if (secrets.awsKey) {
      const key = credentialFile(credDir, SYSTEMD_DEVICE_KEY_CREDENTIAL);
      await encryptCredential(SYSTEMD_DEVICE_KEY_CREDENTIAL, secrets.awsKey, key, run);
      credentialFiles.push(key);
    }
  }
  await fs.mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const unit of units) {
    const file = path.join(dir, unit.name);
    await fs.writeFile(file, unit.content, { mode: 0o644 });
    written.push(file);
  }
  for (const args of [['daemon-reload'], ['enable', '--now', 'backupctl-push.timer']]) {
    const result = await run('systemctl', systemctlArgs(options.scope, args));
    if (result.code !== 0)
      throw schedulerUnavailable(
        `units written to ${dir}, but \`systemctl ${args.join(' ')}\` failed`,
        result,
        options.scope,
      );
  }
  return { unitDirectory: dir, written, credentialFiles };
}
