import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Keyring, keyringSkipReason, startKeyring } from '../../../../test/fixtures/keyring.js';
import { keytarSkipReason } from '../../../../test/fixtures/keytar.js';
import { KeychainSecretStore, LEGACY_KEYCHAIN_SERVICE } from '../../src/secrets/keychain-store.js';
import { labelContract, secretServiceItems, secretStoreContract } from './contract.js';

// Its own file (own worker): keytar (libsecret) binds to the session bus of the process's
// environment at its first call, so DBUS_SESSION_BUS_ADDRESS is set before that.
const skip = keyringSkipReason() ?? (await keytarSkipReason());

describe.skipIf(skip !== undefined)(
  `the optional keychain driver (keytar) against gnome-keyring${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let keyring: Keyring;
    beforeAll(async () => {
      keyring = await startKeyring();
      Object.assign(process.env, keyring.env);
    });
    afterAll(async () => {
      await keyring?.stop();
    });

    const make = () => new KeychainSecretStore({ driver: 'keytar' });
    secretStoreContract(make);
    labelContract(make, () => keyring.env, 'account');

    it('still reads, and deletes, an item made before labels (service "backupctl")', async () => {
      const keytarModule = 'keytar';
      const keytar = (await import(keytarModule)) as {
        default: { setPassword(s: string, a: string, p: string): Promise<void> };
      };
      await keytar.default.setPassword(LEGACY_KEYCHAIN_SERVICE, 'repository-password:/old', 'old passphrase');
      const store = make();
      expect(await store.get('repository-password:/old')).toBe('old passphrase');
      expect(await store.delete('repository-password:/old')).toBe(true);
      expect(await secretServiceItems(keyring.env, { account: 'repository-password:/old' })).toEqual([]);
    });
  },
);
