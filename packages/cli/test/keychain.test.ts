import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Keyring, keyringSkipReason, startKeyring } from '../../../test/fixtures/keyring.js';
import { assertBuilt, type Device, makeDevice, PASSWORD } from './support/cli.js';

const execFileAsync = promisify(execFile);
const skip = keyringSkipReason();

describe.skipIf(skip !== undefined)(
  `the passphrase in the OS keychain (gnome-keyring)${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let keyring: Keyring;
    let device: Device;
    let src: string;
    let repo: string;

    beforeAll(async () => {
      assertBuilt();
      keyring = await startKeyring();
      device = await makeDevice();
      src = path.join(device.dir, 'src');
      repo = path.join(device.dir, 'repo');
      await mkdir(src, { recursive: true });
      await writeFile(path.join(src, 'a.txt'), 'from the keychain\n');
    });
    afterAll(async () => {
      await device?.remove();
      await keyring?.stop();
    });

    it('init stores the passphrase in the keychain, and push then needs no BACKUPCTL_PASSWORD', async () => {
      const init = await device.run(['init', '--repo', repo, '--path', src, '--json'], keyring.env);
      expect(init.code, init.stderr).toBe(0);
      const doc = init.json<{ passwordSource: string; configFile: string; warnings: string[] }>();
      expect(doc.passwordSource).toBe('keychain');
      expect(doc.warnings).toEqual([]);
      expect(await readFile(doc.configFile, 'utf8')).not.toContain(PASSWORD);

      // It is in the Secret Service itself (the default driver, @napi-rs/keyring), labelled.
      const { stdout } = await execFileAsync(
        'secret-tool',
        ['lookup', 'service', `backupctl: passphrase of ${repo}`, 'username', `repository-password:${repo}`],
        { env: { ...process.env, ...keyring.env } },
      );
      expect(stdout).toBe(PASSWORD);
      expect(JSON.parse(await readFile(doc.configFile, 'utf8')).secrets).toBeUndefined();

      const push = await device.run(['push', '--json'], { ...keyring.env, BACKUPCTL_PASSWORD: undefined });
      expect(push.code, push.stderr).toBe(0);
      expect(push.json<{ snapshotId: string }>().snapshotId).toMatch(/^[0-9a-f]{64}$/);

      const status = await device.run(['status', '--json'], {
        ...keyring.env,
        BACKUPCTL_PASSWORD: undefined,
      });
      expect(status.code, status.stderr).toBe(0);
      expect(status.json<{ device: { passwordSource: string } }>().device.passwordSource).toBe('keychain');
    });

    it('without a Secret Service on the bus, push says so and how to fix it', async () => {
      const bare = await startKeyring({ secretService: false });
      try {
        const r = await device.run(['push', '--json'], { ...bare.env, BACKUPCTL_PASSWORD: undefined });
        // No passphrase can be had: exit 12, as for a missing one (docs/exit-codes.md).
        expect(r.code).toBe(12);
        const doc = r.json<{ error: { code: string; message: string; resolution?: string } }>();
        expect(doc.error.code).toBe('SECRET_STORE_UNAVAILABLE');
        expect(doc.error.message).toMatch(/no Secret Service/);
        expect(doc.error.resolution).toMatch(/--no-keychain/);
        expect(doc.error.resolution).toMatch(/BACKUPCTL_PASSWORD/);
        expect(doc.error.resolution).toMatch(/systemd credential "backupctl-password"/);

        // --no-keychain, as the message says: then BACKUPCTL_PASSWORD is used.
        const without = await device.run(['push', '--no-keychain', '--json'], bare.env);
        expect(without.code, without.stderr).toBe(0);
        // --no-keychain and no passphrase at all: it says so (exit 12), never a keychain error.
        const none = await device.run(['push', '--no-keychain', '--json'], {
          ...bare.env,
          BACKUPCTL_PASSWORD: undefined,
        });
        expect(none.code).toBe(12);
        expect(none.json<{ error: { code: string } }>().error.code).toBe('PASSWORD_MISSING');
      } finally {
        await bare.stop();
      }
    });

    it('init with no Secret Service says so before asking for any passphrase (exit 12), and sets up nothing', async () => {
      const bare = await startKeyring({ secretService: false });
      const other = await makeDevice({ password: undefined });
      try {
        const r = await other.run(['init', '--repo', path.join(other.dir, 'repo'), '--path', src], bare.env);
        expect(r.code, r.stderr).toBe(12);
        // The keychain, not the missing passphrase, is what it reports: it was checked first.
        expect(r.stderr).toMatch(/keychain unavailable: no Secret Service/);
        expect(r.stderr).not.toMatch(/no passphrase/);
        expect(r.stderr).toMatch(/--no-keychain/);
        expect(
          r.stderr
            .trim()
            .split('\n')
            .filter((l) => l.startsWith('error:')),
        ).toHaveLength(1);
        // With BACKUPCTL_PASSWORD it is still refused: the keychain was asked for (the default).
        const withEnv = await other.run(['init', '--repo', path.join(other.dir, 'repo'), '--path', src], {
          ...bare.env,
          BACKUPCTL_PASSWORD: PASSWORD,
        });
        expect(withEnv.code).toBe(12);
        const status = await other.run(['status', '--json'], { BACKUPCTL_PASSWORD: PASSWORD });
        expect(status.json<{ error: { code: string } }>().error.code).toBe('CONFIG_MISSING');
        // --no-keychain with BACKUPCTL_PASSWORD, as the message says, works.
        const ok = await other.run(
          ['init', '--repo', path.join(other.dir, 'repo'), '--path', src, '--no-keychain'],
          { ...bare.env, BACKUPCTL_PASSWORD: PASSWORD },
        );
        expect(ok.code, ok.stderr).toBe(0);
      } finally {
        await other.remove();
        await bare.stop();
      }
    });
  },
);
