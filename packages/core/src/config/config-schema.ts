import { z } from 'zod';

/**
 * The schema of the device config (`config.json`), in one place. Strict: an unknown field
 * is refused (a typo such as `"exclude"` must not silently do nothing), and every field has
 * its type — `"excludes": "*"` (a string, not a list) is refused instead of excluding
 * everything.
 *
 * To add a field: add one line to `deviceConfigFields` below (with `.optional()` unless
 * every existing config.json has it), and the field to `DeviceConfig` follows from the
 * schema's type. A test in packages/core/test/config/ shows its message for a wrong value.
 */
const nonEmpty = (what: string) =>
  z.string({ error: `must be ${what}` }).min(1, `must be ${what}, not empty`);
const stringList = (what: string) =>
  z.array(z.string({ error: `each entry must be ${what}` }).min(1, `an entry is empty`), {
    error: (issue) =>
      issue.input === undefined
        ? 'is required'
        : `must be a list of ${what}s, e.g. ["…"], not ${describe(issue.input)}`,
  });

/** What `recover`, `destroy` and `guard …` need to find a device's guard again. No secret. */
export const deviceGuardSchema = z.strictObject({
  accountId: z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id'),
  /** The region of the guard (the trail's log group) and of the device stack. */
  region: nonEmpty('an AWS region such as eu-west-1'),
  bucket: nonEmpty('a bucket name'),
  /** The AWS profile `init` ran with: a name, never credentials. Admin commands default to it. */
  adminProfile: nonEmpty('an AWS profile name').optional(),
  /** IAM user of the device (under /backupctl/). */
  userName: nonEmpty('an IAM user name'),
  deviceStack: nonEmpty('a stack name'),
  guardStack: nonEmpty('a stack name'),
  alarmName: nonEmpty('an alarm name'),
  /** The CloudWatch Logs group the trail delivers to (where recover looks up the events). */
  trailLogGroup: nonEmpty('a log group name'),
});

export const deviceConfigFields = {
  version: z.literal(1, { error: 'must be 1 (the only config version)' }),
  /** A local folder (absolute path) or `s3://bucket/prefix`. */
  repository: nonEmpty('a folder or s3://bucket/prefix'),
  /** S3-compatible endpoint override; path-style addressing is used with it. */
  endpoint: z.url({ error: 'must be a URL such as http://127.0.0.1:9000' }).optional(),
  region: nonEmpty('an AWS region such as eu-west-1').optional(),
  /** Paths `push` backs up when given none. */
  paths: stringList('path'),
  excludes: stringList('glob pattern').default([]),
  /** Where the repository passphrase lives: the keychain, or supplied by the environment. */
  passwordSource: z.enum(['keychain', 'environment'], { error: 'must be "keychain" or "environment"' }),
  /** The device name under `devices/` when the repository is guarded (AWS). */
  device: nonEmpty('a device name').optional(),
  /** Secret storage settings. */
  secrets: z
    .strictObject({
      /** The OS keychain driver: `keyring` (default, @napi-rs/keyring) or `keytar` (optional). */
      keychain: z
        .enum(['keyring', 'keytar'], { error: 'must be "keyring" (the default) or "keytar"' })
        .optional(),
    })
    .optional(),
  /** Set by `init --bucket`: where this device's guard lives, for the admin commands. */
  guard: deviceGuardSchema.optional(),
};

export const deviceConfigSchema = z.strictObject(deviceConfigFields, {
  error: (issue) =>
    issue.code === 'unrecognized_keys'
      ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`
      : 'must be a JSON object',
});

export type DeviceConfig = z.output<typeof deviceConfigSchema>;
export type DeviceGuardConfig = z.output<typeof deviceGuardSchema>;

export type ConfigParseResult =
  | { ok: true; config: DeviceConfig }
  | { ok: false; problems: Array<{ field: string; message: string }> };

/** Validates a parsed config.json: the config, or one message per wrong field. */
export function parseDeviceConfig(value: unknown): ConfigParseResult {
  const result = deviceConfigSchema.safeParse(value);
  if (result.success) return { ok: true, config: result.data };
  return {
    ok: false,
    problems: result.error.issues.map((issue) => ({
      field: issue.path.length > 0 ? issue.path.map(String).join('.') : '(top level)',
      message: issue.message,
    })),
  };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string')
    return `the string ${JSON.stringify(value.length > 30 ? `${value.slice(0, 30)}…` : value)}`;
  return `a ${typeof value}`;
}
