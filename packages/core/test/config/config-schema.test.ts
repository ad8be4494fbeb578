import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDeviceConfig } from '../../src/config/config-schema.js';
import { loadDeviceConfig } from '../../src/config/device-config.js';

const valid = {
  version: 1,
  repository: '/mnt/backup',
  paths: ['/home/me'],
  excludes: ['**/node_modules'],
  passwordSource: 'keychain',
};

async function load(value: unknown): Promise<unknown> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'bk-config-'));
  await fs.writeFile(
    path.join(dir, 'config.json'),
    typeof value === 'string' ? value : JSON.stringify(value),
  );
  return loadDeviceConfig(dir);
}

describe('the device config schema', () => {
  it('accepts what init writes, and defaults excludes', () => {
    expect(parseDeviceConfig(valid)).toMatchObject({ ok: true });
    const { excludes: _, ...noExcludes } = valid;
    expect(parseDeviceConfig(noExcludes)).toMatchObject({ ok: true, config: { excludes: [] } });
  });

  it('refuses "excludes": "*" (a string would exclude everything)', async () => {
    await expect(load({ ...valid, excludes: '*' })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(/excludes: must be a list of glob patterns.*not the string "\*"/),
    });
  });

  const wrong: Array<[string, Record<string, unknown>, RegExp]> = [
    ['paths as a string', { paths: '/home' }, /paths: must be a list of paths/],
    ['a path that is a number', { paths: [1] }, /paths\.0: each entry must be path/],
    [
      'an empty repository',
      { repository: '' },
      /repository: must be a folder or s3:\/\/bucket\/prefix, not empty/,
    ],
    ['a missing repository', { repository: undefined }, /repository: must be/],
    ['version 2', { version: 2 }, /version: must be 1/],
    [
      'an unknown password source',
      { passwordSource: 'file' },
      /passwordSource: must be "keychain" or "environment"/,
    ],
    ['an endpoint that is no URL', { endpoint: 'localhost' }, /endpoint: must be a URL/],
    ['a typo in a field name', { exclude: ['x'] }, /unknown field "exclude"/],
    ['an empty exclude', { excludes: [''] }, /excludes\.0: an entry is empty/],
  ];
  for (const [what, change, message] of wrong) {
    it(`refuses ${what}, naming the field`, async () => {
      await expect(load({ ...valid, ...change })).rejects.toMatchObject({
        code: 'CONFIG_INVALID',
        message: expect.stringMatching(message),
      });
    });
  }

  it('not JSON, or not an object: a clear message', async () => {
    await expect(load('{"version": 1,')).rejects.toThrow(/is not valid JSON/);
    await expect(load('[]')).rejects.toThrow(/must be a JSON object/);
    await expect(load('null')).rejects.toThrow(/must be a JSON object/);
  });

  it('fuzzed: any JSON value either parses to a well-typed config or gives field messages, never throws', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue(),
          fc.record({
            version: fc.oneof(fc.constant(1), fc.jsonValue()),
            repository: fc.oneof(fc.string(), fc.jsonValue()),
            paths: fc.oneof(fc.array(fc.string()), fc.jsonValue()),
            excludes: fc.oneof(fc.array(fc.string()), fc.string(), fc.jsonValue()),
            passwordSource: fc.oneof(fc.constantFrom('keychain', 'environment'), fc.string()),
          }),
        ),
        (value) => {
          const result = parseDeviceConfig(value);
          if (result.ok) {
            expect(Array.isArray(result.config.excludes)).toBe(true);
            expect(result.config.excludes.every((e) => typeof e === 'string' && e.length > 0)).toBe(true);
            expect(Array.isArray(result.config.paths)).toBe(true);
          } else {
            expect(result.problems.length).toBeGreaterThan(0);
            for (const p of result.problems) expect(p.message.length).toBeGreaterThan(0);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
