import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Device, makeDevice } from './support/cli.js';

/**
 * The AWS SDK's own setup failures, as a user meets them at `init`: each is a coded error
 * with a next step and a documented exit code — never the SDK's raw text.
 */
describe('AWS setup errors', () => {
  let device: Device;
  beforeAll(async () => {
    device = await makeDevice();
    const aws = path.join(device.env.HOME as string, '.aws');
    await mkdir(aws, { recursive: true });
    await writeFile(
      path.join(aws, 'config'),
      '[default]\nregion = eu-west-1\n\n[profile work]\nregion = eu-central-1\n',
    );
    await writeFile(path.join(aws, 'credentials'), '');
  });
  afterAll(() => device.remove());

  // The device key (a device never signs with the SDK's default chain).
  const key = { BACKUPCTL_AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', BACKUPCTL_AWS_SECRET_ACCESS_KEY: 'x' };
  const init = (args: string[], env: Record<string, string | undefined> = key) =>
    device.run(['init', '--repo', 's3://my-backups/devices/laptop/', '--no-keychain', '--json', ...args], {
      // No instance metadata service to wait for on a laptop (nor here).
      AWS_EC2_METADATA_DISABLED: 'true',
      ...env,
    });

  const cases: [string, string[], Record<string, string>, string, number, RegExp, RegExp][] = [
    [
      'no device key anywhere',
      ['--region', 'eu-west-1'],
      {},
      'DEVICE_KEY_MISSING',
      22,
      /no AWS access key for this device/,
      /BACKUPCTL_AWS_ACCESS_KEY_ID|backupctl init --bucket/,
    ],
    [
      'no region',
      [],
      { ...key, AWS_CONFIG_FILE: '/nonexistent/config' },
      'AWS_REGION_MISSING',
      41,
      /no AWS region/,
      /--region/,
    ],
    [
      'an endpoint without a scheme',
      ['--endpoint', 'localhost:9000'],
      key,
      'ENDPOINT_INVALID',
      41,
      /needs http:\/\/ or https:\/\//,
      /--endpoint https:\/\/localhost:9000/,
    ],
    [
      'a region typo',
      ['--region', 'eu-west-l'],
      key,
      'AWS_REGION_INVALID',
      41,
      /"eu-west-l"/,
      /Did you mean eu-west-1\?/,
    ],
    [
      'a region typo without dashes',
      ['--region', 'euwest1'],
      key,
      'AWS_REGION_INVALID',
      41,
      /"euwest1"/,
      /eu-west-1/,
    ],
  ];
  for (const [what, args, env, code, exit, message, next] of cases) {
    it(`${what}: ${code}, exit ${exit}`, async () => {
      const r = await init(args, env);
      expect(r.code, r.stdout + r.stderr).toBe(exit);
      const doc = JSON.parse(r.stdout) as { error: { code: string; message: string; resolution: string } };
      expect(doc.error.code).toBe(code);
      expect(doc.error.message).toMatch(message);
      expect(doc.error.resolution).toMatch(next);
      expect(r.stdout + r.stderr).not.toMatch(
        /Could not load credentials from any providers|Region is missing|not a valid URI|hostname component/,
      );
    });
  }

  it('human output: error and next, no SDK text', async () => {
    const r = await device.run(
      ['init', '--repo', 's3://my-backups/devices/laptop/', '--no-keychain', '--region', 'euwest1'],
      { ...key, AWS_EC2_METADATA_DISABLED: 'true' },
    );
    expect(r.code).toBe(41);
    expect(r.stderr).toMatch(
      /^error: the AWS region "euwest1" is not a region name \(like eu-west-1\)\n {2}next: Did you mean eu-west-1\?/,
    );
  });
});
