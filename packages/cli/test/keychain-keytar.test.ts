import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Keyring, keyringSkipReason, startKeyring } from '../../../test/fixtures/keyring.js';
import { keytarSkipReason } from '../../../test/fixtures/keytar.js';
import { assertBuilt, type Device, makeDevice, PASSWORD } from './support/cli.js';

const execFileAsync = promisify(execFile);
const skip = keyringSkipReason() ?? (await keytarSkipReason());

describe.skipIf(skip !== undefined)(
  `the optional keytar driver, chosen at init (secrets.keychain: keytar)${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let keyring: Keyring;
    let device: Device;
    let src: string;

    beforeAll(async () => {
      assertBuilt();
      keyring = await startKeyring();
      device = await makeDevice();
      src = path.join(device.dir, 'src');
      await mkdir(src, { recursive: true });
      await writeFile(path.join(src, 'a.txt'), 'through keytar\n');
    });
    afterAll(async () => {
      await device?.remove();
      await keyring?.stop();
    });

    it('init --keychain-driver keytar records it, stores through keytar, and push reads it back', async () => {
      const repo = path.join(device.dir, 'repo');
      const init = await device.run(
        ['init', '--repo', repo, '--path', src, '--keychain-driver', 'keytar', '--json'],
        keyring.env,
      );
      expect(init.code, init.stderr).toBe(0);
      const doc = init.json<{ configFile: string; passwordSource: string }>();
      expect(doc.passwordSource).toBe('keychain');
      expect(JSON.parse(await readFile(doc.configFile, 'utf8')).secrets).toEqual({ keychain: 'keytar' });
      // keytar's item (attribute "account"), labelled.
      const { stdout } = await execFileAsync(
        'secret-tool',
        ['lookup', 'service', `backupctl: passphrase of ${repo}`, 'account', `repository-password:${repo}`],
        { env: { ...process.env, ...keyring.env } },
      );
      expect(stdout).toBe(PASSWORD);
      const push = await device.run(['push', '--json'], { ...keyring.env, BACKUPCTL_PASSWORD: undefined });
      expect(push.code, push.stderr).toBe(0);
    });
  },
);
