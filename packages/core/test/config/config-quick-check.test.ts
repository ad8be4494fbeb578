import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONFIG_FIELDS, GUARD_FIELDS, quickDeviceConfig } from '../../src/config/config-quick-check.js';
import { deviceConfigFields, deviceGuardSchema, parseDeviceConfig } from '../../src/config/config-schema.js';

const local = {
  version: 1,
  repository: '/mnt/backup',
  paths: ['/home/me'],
  excludes: ['**/node_modules'],
  passwordSource: 'environment',
};
const guard = {
  accountId: '123456789012',
  region: 'eu-west-1',
  bucket: 'my-backups',
  adminProfile: 'admin',
  userName: 'backupctl-laptop',
  deviceStack: 'backupctl-device-laptop',
  guardStack: 'backupctl-guard',
  alarmName: 'backupctl-laptop-denied',
  trailLogGroup: '/backupctl/trail',
};
const s3 = {
  version: 1,
  repository: 's3://my-backups/devices/laptop',
  region: 'eu-west-1',
  paths: [],
  passwordSource: 'keychain',
  device: 'laptop',
  secrets: { keychain: 'keytar' },
  guard,
};

/** The schema's own answer, as JSON (field order included: configs are written back). */
function schemaSays(value: unknown): string | undefined {
  const result = parseDeviceConfig(value);
  return result.ok ? JSON.stringify(result.config) : undefined;
}

describe('the quick check of the device config (no zod at start-up)', () => {
  let accepted = 0;
  it('answers what init writes, local and S3 with the guard, as the schema does', () => {
    for (const config of [local, s3, { ...local, excludes: undefined }, { ...s3, secrets: {} }]) {
      const quick = quickDeviceConfig(JSON.parse(JSON.stringify(config)));
      expect(quick).toBeDefined();
      expect(JSON.stringify(quick)).toBe(schemaSays(JSON.parse(JSON.stringify(config))));
    }
  });

  it('knows only fields the schema has', () => {
    const schemaFields = new Set(Object.keys(deviceConfigFields));
    for (const field of CONFIG_FIELDS) expect(schemaFields).toContain(field);
    const guardFields = new Set(Object.keys(deviceGuardSchema.shape));
    for (const field of GUARD_FIELDS) expect(guardFields).toContain(field);
  });

  it('leaves an endpoint, unknown fields and wrong values to the schema', () => {
    expect(quickDeviceConfig({ ...s3, endpoint: 'http://127.0.0.1:9000' })).toBeUndefined();
    expect(quickDeviceConfig({ ...local, exclude: ['x'] })).toBeUndefined();
    expect(quickDeviceConfig({ ...local, excludes: '*' })).toBeUndefined();
    expect(quickDeviceConfig({ ...s3, guard: { ...guard, accountId: '1234' } })).toBeUndefined();
    expect(quickDeviceConfig({ ...s3, guard: { ...guard, extra: 1 } })).toBeUndefined();
    expect(quickDeviceConfig([])).toBeUndefined();
    expect(quickDeviceConfig(JSON.parse('{"__proto__": {}, "version": 1}'))).toBeUndefined();
  });

  it('fuzzed: whatever it answers, the schema answers the same', () => {
    // Mostly good values, now and then a wrong one: configs are mostly near-valid.
    const mostly = <T>(good: fc.Arbitrary<T>) =>
      fc.oneof(
        { arbitrary: good, weight: 20 },
        { arbitrary: fc.constantFrom('', null, 0, [], {}), weight: 1 },
        { arbitrary: fc.jsonValue(), weight: 1 },
      );
    const text = mostly(fc.oneof(fc.constantFrom('/x', 'eu-west-1', 'a b'), fc.string({ minLength: 1 })));
    const texts = mostly(fc.array(text, { maxLength: 3 }));
    const guardFields: Record<string, fc.Arbitrary<unknown>> = {
      ...Object.fromEntries(Object.keys(guard).map((k) => [k, text])),
      accountId: mostly(fc.constantFrom('123456789012', '12345678901', '123456789012\n')),
    };
    const guardRecord = fc.record(guardFields, {
      requiredKeys: Object.keys(guard).filter((k) => k !== 'adminProfile'),
    });
    fc.assert(
      fc.property(
        fc.oneof(
          { arbitrary: fc.jsonValue(), weight: 1 },
          {
            weight: 9,
            arbitrary: fc
              .tuple(
                fc.record(
                  {
                    version: mostly(fc.constant(1)),
                    repository: text,
                    region: text,
                    paths: texts,
                    excludes: mostly(fc.oneof(texts, text)),
                    passwordSource: mostly(fc.constantFrom('keychain', 'environment')),
                    device: text,
                    secrets: mostly(
                      fc.record(
                        { keychain: fc.constantFrom('keyring', 'keytar', 'other') },
                        { requiredKeys: [] },
                      ),
                    ),
                    guard: mostly(guardRecord),
                  },
                  { requiredKeys: ['version', 'repository', 'paths', 'passwordSource'] },
                ),
                // Now and then a field the check leaves to the schema.
                fc.oneof(
                  { arbitrary: fc.constant({}), weight: 6 },
                  {
                    arbitrary: fc.constantFrom(
                      { endpoint: 'http://127.0.0.1:9000' },
                      { endpoint: 'x' },
                      { other: 1 },
                    ),
                    weight: 1,
                  },
                ),
              )
              .map(([config, extra]) => ({ ...config, ...extra })),
          },
        ),
        (generated) => {
          // As it arrives: parsed JSON.
          const value = JSON.parse(JSON.stringify(generated) ?? 'null');
          const quick = quickDeviceConfig(value);
          if (quick !== undefined) {
            accepted++;
            expect(JSON.stringify(quick)).toBe(schemaSays(value));
          }
        },
      ),
      { numRuns: 3000 },
    );
    // The property says something only if the check answers often enough.
    expect(accepted).toBeGreaterThan(30);
  });
});
