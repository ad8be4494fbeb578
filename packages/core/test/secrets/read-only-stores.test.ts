import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { EnvironmentSecretStore, SystemdCredentialStore } from '../../src/secrets/read-only-stores.js';
import {
  deviceKeyAccount,
  passwordAccount,
  SYSTEMD_PASSWORD_CREDENTIAL,
} from '../../src/secrets/secret-store.js';
import { secretStoreContract } from './contract.js';

const pass = passwordAccount('/srv/backups');
const key = deviceKeyAccount('server');
const awsKey = '{"accessKeyId":"AKIAEXAMPLEEXAMPLE12","secretAccessKey":"s3cr3t"}';

describe('the environment store (BACKUPCTL_PASSWORD)', () => {
  const values: Record<string, string> = { [pass]: 'from the environment', [key]: awsKey };
  secretStoreContract(() => new EnvironmentSecretStore((a) => values[a]), { seeded: values });
});

describe('the systemd credential store ($CREDENTIALS_DIRECTORY)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'credentials-'));
    // systemd keeps the file as given; a trailing newline (echo >) is not part of the secret.
    await writeFile(path.join(dir, SYSTEMD_PASSWORD_CREDENTIAL), 'from systemd\n');
    await writeFile(path.join(dir, 'backupctl-aws-key'), awsKey);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const files: Record<string, string> = { [pass]: SYSTEMD_PASSWORD_CREDENTIAL, [key]: 'backupctl-aws-key' };
  secretStoreContract(() => new SystemdCredentialStore(dir, (a) => files[a]), {
    seeded: { [pass]: 'from systemd', [key]: awsKey },
  });
});
