import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Keyring, keyringSkipReason, startKeyring } from '../../../../test/fixtures/keyring.js';
import { BackupctlError, ErrorCodes } from '../../src/errors/backupctl-error.js';
import { KeychainSecretStore, keychainError } from '../../src/secrets/keychain-store.js';

// Its own file (own worker): keytar binds to the bus of the environment at its first call.
const skip = keyringSkipReason();

describe.skipIf(skip !== undefined)(
  `KeychainSecretStore with no Secret Service on the bus${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let bus: Keyring;

    beforeAll(async () => {
      bus = await startKeyring({ secretService: false });
      Object.assign(process.env, bus.env);
    });
    afterAll(async () => {
      await bus?.stop();
    });

    it.each(['get', 'set', 'delete'] as const)(
      '%s fails with SECRET_STORE_UNAVAILABLE and a resolution',
      async (op) => {
        const store = new KeychainSecretStore();
        const call =
          op === 'get'
            ? store.get('account')
            : op === 'set'
              ? store.set('account', 'secret')
              : store.delete('account');
        const error = await call.then(
          () => {
            throw new Error(`${op} succeeded without a Secret Service`);
          },
          (e: unknown) => e,
        );
        expect(BackupctlError.is(error)).toBe(true);
        const e = error as BackupctlError;
        expect(e.code).toBe(ErrorCodes.secretStoreUnavailable);
        expect(e.source).toBe('environment');
        expect(e.message).toMatch(/no Secret Service is running/);
        expect(e.resolution).toMatch(/gnome-keyring|BACKUPCTL_PASSWORD/);
        // The raw libsecret text is kept as the cause, for --debug.
        expect(String((e.cause as Error | undefined)?.message)).toMatch(
          /org\.freedesktop\.secrets was not provided/,
        );
      },
    );
  },
);

describe('keychainError maps libsecret texts (TESTING.md) to what they mean', () => {
  it.each([
    ['Cannot autolaunch D-Bus without X11 $DISPLAY', /no D-Bus session bus/],
    ['The name org.freedesktop.secrets was not provided by any .service files', /no Secret Service/],
    ['Object does not exist at path “/org/freedesktop/secrets/collection/login”', /no login collection/],
    ['Cannot create an item in a locked collection', /locked/],
  ])('%s', (text, meaning) => {
    const error = keychainError(new Error(text));
    expect(error.code).toBe(ErrorCodes.secretStoreUnavailable);
    expect(error.message).toMatch(meaning);
    expect(error.resolution).toBeTruthy();
  });

  it('keeps an unknown text, without inventing a resolution', () => {
    const error = keychainError(new Error('something else'));
    expect(error.code).toBe(ErrorCodes.secretStoreUnavailable);
    expect(error.message).toBe('keychain error: something else');
    expect(error.resolution).toBeUndefined();
  });
});
