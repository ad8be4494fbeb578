import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Keyring, keyringSkipReason, startKeyring } from '../../../../test/fixtures/keyring.js';
import { KeychainSecretStore } from '../../src/secrets/keychain-store.js';
import { labelContract, secretServiceItems, secretStoreContract } from './contract.js';

// Its own file (own worker): the driver talks to the session bus of the process's
// environment, so DBUS_SESSION_BUS_ADDRESS is set before its first call.
const skip = keyringSkipReason();

describe.skipIf(skip !== undefined)(
  `the default keychain driver (@napi-rs/keyring) against gnome-keyring${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let keyring: Keyring;
    beforeAll(async () => {
      keyring = await startKeyring();
      Object.assign(process.env, keyring.env);
    });
    afterAll(async () => {
      await keyring?.stop();
    });

    const make = () => new KeychainSecretStore();
    it('is the default driver', () => {
      expect(make().driver).toBe('keyring');
    });
    secretStoreContract(make);
    // @napi-rs/keyring names the account attribute "username".
    labelContract(make, () => keyring.env, 'username');

    it('writes to the Secret Service itself (not the kernel keyring)', async () => {
      const store = make();
      await store.set('where-is-it', 'in gnome-keyring');
      try {
        const items = await secretServiceItems(keyring.env, { username: 'where-is-it' });
        expect(items.map((i) => i.secret)).toEqual(['in gnome-keyring']);
      } finally {
        await store.delete('where-is-it');
      }
    });
  },
);
