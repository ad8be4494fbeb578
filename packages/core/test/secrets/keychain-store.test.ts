import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Keyring, keyringSkipReason, startKeyring } from '../../../../test/fixtures/keyring.js';
import { KEYCHAIN_SERVICE, KeychainSecretStore } from '../../src/secrets/keychain-store.js';

// Its own file: keytar (libsecret) binds to the session bus of the process's
// environment at its first call, so DBUS_SESSION_BUS_ADDRESS is set before that, in a
// worker no other test file shares.
const execFileAsync = promisify(execFile);
const skip = keyringSkipReason();

describe.skipIf(skip !== undefined)(
  `KeychainSecretStore against gnome-keyring${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let keyring: Keyring;

    beforeAll(async () => {
      keyring = await startKeyring();
      Object.assign(process.env, keyring.env);
    });
    afterAll(async () => {
      await keyring?.stop();
    });

    /** What the Secret Service itself holds, read with libsecret's own tool. */
    async function lookup(account: string): Promise<string | undefined> {
      try {
        const { stdout } = await execFileAsync(
          'secret-tool',
          ['lookup', 'service', KEYCHAIN_SERVICE, 'account', account],
          { env: { ...process.env, ...keyring.env } },
        );
        return stdout;
      } catch {
        return undefined;
      }
    }

    it('stores a secret in the Secret Service, reads it back, and deletes it', async () => {
      const store = new KeychainSecretStore();
      const account = 'repository-password:/tmp/repo-round-trip';
      const secret = 'pässwörd with spaces, "quotes" and 日本語';
      expect(await store.get(account)).toBeUndefined();
      await store.set(account, secret);
      expect(await store.get(account)).toBe(secret);
      expect(await lookup(account)).toBe(secret);
      await store.set(account, 'replaced');
      expect(await store.get(account)).toBe('replaced');
      expect(await store.delete(account)).toBe(true);
      expect(await store.get(account)).toBeUndefined();
      expect(await lookup(account)).toBeUndefined();
      expect(await store.delete(account)).toBe(false);
    });

    it('keeps accounts and services apart', async () => {
      const a = new KeychainSecretStore();
      const other = new KeychainSecretStore('backupctl-other-service');
      await a.set('account-1', 'one');
      await a.set('account-2', 'two');
      expect(await a.get('account-1')).toBe('one');
      expect(await a.get('account-2')).toBe('two');
      expect(await other.get('account-1')).toBeUndefined();
      await a.delete('account-1');
      expect(await a.get('account-2')).toBe('two');
      await a.delete('account-2');
    });
  },
);
