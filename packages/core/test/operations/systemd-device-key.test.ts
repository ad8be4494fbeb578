import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEnvironment } from '../../src/config/environment.js';
import { systemdDeviceKey } from '../../src/operations/session.js';
import { SYSTEMD_AWS_KEY_CREDENTIAL } from '../../src/secrets/secret-store.js';

describe('the AWS key from a systemd credential', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'creds-dir-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("reads $CREDENTIALS_DIRECTORY/backupctl-aws-access-key (the keychain entry's JSON)", async () => {
    await writeFile(
      path.join(dir, SYSTEMD_AWS_KEY_CREDENTIAL),
      `${JSON.stringify({ accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 's/e+cret' })}\n`,
    );
    const env = readEnvironment({ CREDENTIALS_DIRECTORY: dir });
    expect(await systemdDeviceKey(env)).toEqual({
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      secretAccessKey: 's/e+cret',
    });
  });

  it('none without a credentials folder or file; a malformed one is a clear error', async () => {
    expect(await systemdDeviceKey(readEnvironment({}))).toBeUndefined();
    const empty = await mkdtemp(path.join(tmpdir(), 'creds-empty-'));
    expect(await systemdDeviceKey(readEnvironment({ CREDENTIALS_DIRECTORY: empty }))).toBeUndefined();
    await rm(empty, { recursive: true });
    await writeFile(path.join(dir, SYSTEMD_AWS_KEY_CREDENTIAL), 'AKIA… not json');
    await expect(systemdDeviceKey(readEnvironment({ CREDENTIALS_DIRECTORY: dir }))).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
    });
  });
});
