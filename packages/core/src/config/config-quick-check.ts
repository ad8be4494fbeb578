import type { DeviceConfig, DeviceGuardConfig } from './config-schema.js';

/**
 * The device config as the schema (config-schema.ts) would return it, for a config.json
 * that is plainly valid — without loading zod (~45 ms of CPU on every command's start-up,
 * the largest module of the SDK). Anything it is not sure of (an `endpoint`, whose URL
 * rules are zod's, a field it does not know, any wrong value) is `undefined`: the caller
 * then asks the schema, which stays the one definition of the config and says what is
 * wrong. So a field added to the schema only costs this check its speed, never a wrong
 * answer; a test holds its answers equal to the schema's.
 */
export function quickDeviceConfig(value: unknown): DeviceConfig | undefined {
  if (!isPlainObject(value)) return undefined;
  if (!Object.keys(value).every((key) => CONFIG_FIELDS.has(key))) return undefined;
  const { version, repository, region, paths, excludes, passwordSource, device, secrets, guard } = value;
  if (version !== 1 || !nonEmpty(repository) || value.endpoint !== undefined) return undefined;
  if (!optional(region, nonEmpty) || !optional(device, nonEmpty)) return undefined;
  if (!stringList(paths) || !optional(excludes, stringList)) return undefined;
  if (passwordSource !== 'keychain' && passwordSource !== 'environment') return undefined;
  const quickSecrets = secrets === undefined ? undefined : secretsOf(secrets);
  if (secrets !== undefined && !quickSecrets) return undefined;
  const quickGuard = guard === undefined ? undefined : guardOf(guard);
  if (guard !== undefined && !quickGuard) return undefined;
  // The schema's order of fields, and only the fields given (excludes defaults to []).
  return {
    version,
    repository,
    ...(region !== undefined ? { region: region as string } : {}),
    paths: [...(paths as string[])],
    excludes: excludes === undefined ? [] : [...(excludes as string[])],
    passwordSource,
    ...(device !== undefined ? { device: device as string } : {}),
    ...(quickSecrets ? { secrets: quickSecrets } : {}),
    ...(quickGuard ? { guard: quickGuard } : {}),
  };
}

/** The fields this check knows (each is in the schema's `deviceConfigFields`: a test). */
export const CONFIG_FIELDS: ReadonlySet<string> = new Set([
  'version',
  'repository',
  'endpoint',
  'region',
  'paths',
  'excludes',
  'passwordSource',
  'device',
  'secrets',
  'guard',
]);

/** The guard's fields this check knows (each is in the schema's `deviceGuardSchema`). */
export const GUARD_FIELDS: ReadonlySet<string> = new Set([
  'accountId',
  'region',
  'bucket',
  'adminProfile',
  'userName',
  'deviceStack',
  'guardStack',
  'alarmName',
  'trailLogGroup',
]);

function secretsOf(value: unknown): DeviceConfig['secrets'] | undefined {
  if (!isPlainObject(value) || !Object.keys(value).every((key) => key === 'keychain')) return undefined;
  const { keychain } = value;
  if (keychain === undefined) return {};
  return keychain === 'keyring' || keychain === 'keytar' ? { keychain } : undefined;
}

function guardOf(value: unknown): DeviceGuardConfig | undefined {
  if (!isPlainObject(value) || !Object.keys(value).every((key) => GUARD_FIELDS.has(key))) return undefined;
  const g = value;
  const {
    accountId,
    region,
    bucket,
    adminProfile,
    userName,
    deviceStack,
    guardStack,
    alarmName,
    trailLogGroup,
  } = g;
  if (typeof accountId !== 'string' || !/^\d{12}$/.test(accountId)) return undefined;
  const required = [region, bucket, userName, deviceStack, guardStack, alarmName, trailLogGroup];
  if (!required.every(nonEmpty) || !optional(adminProfile, nonEmpty)) return undefined;
  return {
    accountId,
    region: region as string,
    bucket: bucket as string,
    ...(adminProfile !== undefined ? { adminProfile: adminProfile as string } : {}),
    userName: userName as string,
    deviceStack: deviceStack as string,
    guardStack: guardStack as string,
    alarmName: alarmName as string,
    trailLogGroup: trailLogGroup as string,
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonEmpty(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

function stringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every(nonEmpty);
}

function optional<T>(value: unknown, check: (v: unknown) => v is T): boolean {
  return value === undefined || check(value);
}
