import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Keyring, startKeyring } from '../../../../test/fixtures/keyring.js';
import { BackupctlError, ErrorCodes } from '../../src/errors/backupctl-error.js';
import { type KeychainDriverName, KeychainSecretStore } from '../../src/secrets/keychain-store.js';

/** What a driver says on a session bus with no Secret Service: one clear, coded error. */
export function unavailableContract(driver: KeychainDriverName, rawText: RegExp): void {
  let bus: Keyring;
  beforeAll(async () => {
    bus = await startKeyring({ secretService: false });
    Object.assign(process.env, bus.env);
  });
  afterAll(async () => {
    await bus?.stop();
  });

  it.each(['probe', 'get', 'set', 'delete'] as const)(
    `${driver}: %s fails with SECRET_STORE_UNAVAILABLE naming the alternatives`,
    async (op) => {
      const store = new KeychainSecretStore({ driver });
      const call =
        op === 'probe'
          ? store.probe()
          : op === 'get'
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
      expect(e.resolution).toMatch(/--no-keychain/);
      expect(e.resolution).toMatch(/BACKUPCTL_PASSWORD/);
      expect(e.resolution).toMatch(/systemd credential "backupctl-password"/);
      // The driver's raw text is kept as the cause, for --debug.
      expect(String((e.cause as Error | undefined)?.message)).toMatch(rawText);
    },
  );

  describe('never falls back silently to another store', () => {
    it(`${driver}: a set that failed stored nothing anywhere the store reads from`, async () => {
      const store = new KeychainSecretStore({ driver });
      await store.set('fallback-check', 'x').catch(() => undefined);
      await expect(store.get('fallback-check')).rejects.toThrow(/keychain unavailable/);
    });
  });
}
