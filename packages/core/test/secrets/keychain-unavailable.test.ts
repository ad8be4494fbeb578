import { describe, expect, it } from 'vitest';
import { keyringSkipReason } from '../../../../test/fixtures/keyring.js';
import { ErrorCodes } from '../../src/errors/backupctl-error.js';
import { keychainError } from '../../src/secrets/keychain-store.js';
import { unavailableContract } from './unavailable.js';

// Its own file (own worker): the driver binds to the bus of the environment.
const skip = keyringSkipReason();

describe.skipIf(skip !== undefined)(
  `the default driver (@napi-rs/keyring) with no Secret Service on the bus${skip ? ` (skipped: ${skip})` : ''}`,
  () => unavailableContract('keyring', /Did not receive a reply|org\.freedesktop\.secrets|ServiceUnknown/),
);

describe('keychainError maps libsecret texts (TESTING.md) to what they mean', () => {
  it.each([
    ['Cannot autolaunch D-Bus without X11 $DISPLAY', /no D-Bus session bus/],
    [
      'Platform failure: DBus error: Using X11 for dbus-daemon autolaunch was disabled at compile time, set your DBUS_SESSION_BUS_ADDRESS instead',
      /no D-Bus session bus/,
    ],
    ['The name org.freedesktop.secrets was not provided by any .service files', /no Secret Service/],
    ['Object does not exist at path “/org/freedesktop/secrets/collection/login”', /no login collection/],
    ['Cannot create an item in a locked collection', /locked/],
  ])('%s', (text, meaning) => {
    const error = keychainError(new Error(text));
    expect(error.code).toBe(ErrorCodes.secretStoreUnavailable);
    expect(error.message).toMatch(meaning);
    expect(error.resolution).toBeTruthy();
  });

  it('keeps an unknown text, and still names the alternatives', () => {
    const error = keychainError(new Error('something else'));
    expect(error.code).toBe(ErrorCodes.secretStoreUnavailable);
    expect(error.message).toBe('keychain error: something else');
    expect(error.resolution).toMatch(/--no-keychain/);
  });
});
