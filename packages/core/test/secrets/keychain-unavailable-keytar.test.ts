import { describe } from 'vitest';
import { keyringSkipReason } from '../../../../test/fixtures/keyring.js';
import { keytarSkipReason } from '../../../../test/fixtures/keytar.js';
import { unavailableContract } from './unavailable.js';

// Its own file (own worker): keytar binds to the bus of the environment at its first call.
const skip = keyringSkipReason() ?? (await keytarSkipReason());

describe.skipIf(skip !== undefined)(
  `the keytar driver with no Secret Service on the bus${skip ? ` (skipped: ${skip})` : ''}`,
  () => unavailableContract('keytar', /org\.freedesktop\.secrets was not provided/),
);
