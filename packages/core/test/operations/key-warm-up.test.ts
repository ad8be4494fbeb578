import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// Counts the derivations: the warm-up is only worth something if the open takes its result
// instead of deriving again, and only safe if it never hands over another passphrase's key.
const scryptCalls = vi.hoisted(() => ({ count: 0 }));
vi.mock('node:crypto', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:crypto')>();
  return {
    ...original,
    scrypt: (...args: Parameters<typeof original.scrypt>) => {
      scryptCalls.count++;
      return (original.scrypt as (...a: unknown[]) => void)(...args);
    },
  };
});

const { deriveAhead } = await import('../../src/crypto/keys.js');
const { warmUpRepositoryKey } = await import('../../src/operations/key-warm-up.js');
const { Repository } = await import('../../src/repository/repository.js');
const { LocalBackend } = await import('../../src/storage/local-backend.js');
const { ErrorCodes } = await import('../../src/errors/index.js');

const FAST_KDF = { N: 1024, r: 8, p: 1 };
const PASSPHRASE = 'correct horse battery';

let dir: string;
let repoDir: string;
let configDir: string;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(tmpdir(), 'bk-warmup-'));
  repoDir = path.join(dir, 'repo');
  configDir = path.join(dir, 'config');
  await fs.mkdir(configDir);
  await Repository.init(new LocalBackend(repoDir), PASSPHRASE, { host: 'test', kdf: FAST_KDF });
  await writeConfig({ repository: repoDir });
  scryptCalls.count = 0;
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

function writeConfig(fields: Record<string, unknown>): Promise<void> {
  const config = { version: 1, paths: [], excludes: [], passwordSource: 'environment', ...fields };
  return fs.writeFile(path.join(configDir, 'config.json'), JSON.stringify(config));
}

const env = (extra: Record<string, string> = {}) => ({
  BACKUPCTL_CONFIG_DIR: configDir,
  BACKUPCTL_PASSWORD: PASSPHRASE,
  ...extra,
});

async function keyFile() {
  const [name] = await fs.readdir(path.join(repoDir, 'keys'));
  return JSON.parse(await fs.readFile(path.join(repoDir, 'keys', name!), 'utf8'));
}

describe('the repository key derived ahead (start-up)', () => {
  it('the open takes the derivation the warm-up started: one scrypt, not two', async () => {
    warmUpRepositoryKey(env());
    expect(scryptCalls.count).toBe(1);
    const repo = await Repository.open(new LocalBackend(repoDir), PASSPHRASE);
    expect(repo.keyId).toBeDefined();
    expect(scryptCalls.count).toBe(1);
  });

  it("an early derivation of another passphrase is never used: the right one opens, the wrong one doesn't", async () => {
    const { kdf } = await keyFile();
    deriveAhead('not the passphrase', kdf);
    await expect(Repository.open(new LocalBackend(repoDir), PASSPHRASE)).resolves.toBeDefined();
    expect(scryptCalls.count).toBe(2);

    warmUpRepositoryKey(env());
    await expect(Repository.open(new LocalBackend(repoDir), 'not the passphrase')).rejects.toMatchObject({
      code: ErrorCodes.wrongPassword,
    });
  });

  it('each early derivation is taken once', async () => {
    warmUpRepositoryKey(env());
    await Repository.open(new LocalBackend(repoDir), PASSPHRASE);
    await Repository.open(new LocalBackend(repoDir), PASSPHRASE);
    expect(scryptCalls.count).toBe(2);
  });

  it('reads the passphrase from the systemd credential when the environment has none', async () => {
    const credentials = path.join(dir, 'credentials');
    await fs.mkdir(credentials);
    await fs.writeFile(path.join(credentials, 'backupctl-password'), `${PASSPHRASE}\n`);
    warmUpRepositoryKey({ BACKUPCTL_CONFIG_DIR: configDir, CREDENTIALS_DIRECTORY: credentials });
    expect(scryptCalls.count).toBe(1);
    await Repository.open(new LocalBackend(repoDir), PASSPHRASE);
    expect(scryptCalls.count).toBe(1);
  });

  it('does nothing, and throws nothing, without a passphrase, for S3, or with damaged files', async () => {
    warmUpRepositoryKey({ BACKUPCTL_CONFIG_DIR: configDir });
    await writeConfig({ repository: 's3://bucket/devices/laptop' });
    warmUpRepositoryKey(env());
    await fs.writeFile(path.join(configDir, 'config.json'), '{ not json');
    warmUpRepositoryKey(env());
    warmUpRepositoryKey(env({ BACKUPCTL_CONFIG_DIR: path.join(dir, 'nowhere') }));
    await writeConfig({ repository: repoDir });
    const [name] = await fs.readdir(path.join(repoDir, 'keys'));
    await fs.writeFile(path.join(repoDir, 'keys', name!), '{"kdf":{"algorithm":"scrypt","N":"huge"}}');
    warmUpRepositoryKey(env());
    expect(scryptCalls.count).toBe(0);
  });
});
