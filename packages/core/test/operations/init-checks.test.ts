import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkInit, checkPassphrase } from '../../src/operations/init-checks.js';

describe('checkInit', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'init-checks-'));
    await writeFile(
      path.join(dir, 'config.json'),
      JSON.stringify({ version: 1, repository: 's3://b/devices/laptop/', paths: [] }),
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a device already set up, names what exists; --force passes', async () => {
    await expect(checkInit({ configDir: dir, repository: '/tmp/other' })).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('s3://b/devices/laptop/'),
    });
    await checkInit({ configDir: dir, repository: '/tmp/other', force: true });
  });

  it('a resumable re-run (init --bucket) on the same repository passes; on another it is refused', async () => {
    await checkInit({ configDir: dir, repository: 's3://b/devices/laptop', resumable: true });
    await expect(
      checkInit({ configDir: dir, repository: 's3://b/devices/desk/', resumable: true }),
    ).rejects.toMatchObject({ code: 'USAGE' });
    // Without resumable (init --repo) the same repository is still refused.
    await expect(checkInit({ configDir: dir, repository: 's3://b/devices/laptop/' })).rejects.toMatchObject({
      code: 'USAGE',
    });
  });

  it('counts characters, not bytes, for the passphrase', () => {
    expect(() => checkPassphrase('ééééééé', 'environment')).toThrow(/at least 8 characters/);
    checkPassphrase('éééééééé', 'prompt');
  });
});
