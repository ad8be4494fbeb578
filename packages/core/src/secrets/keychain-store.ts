import { BackupctlError, ErrorCodes, errorMessage } from '../errors/index.js';
import type { SecretStore } from './secret-store.js';

interface Keytar {
  getPassword(service: string, account: string): Promise<string | null>;
  setPassword(service: string, account: string, password: string): Promise<void>;
  deletePassword(service: string, account: string): Promise<boolean>;
}

export const KEYCHAIN_SERVICE = 'backupctl';

/**
 * The OS keychain through keytar: macOS Keychain, Windows Credential Manager, Secret
 * Service (gnome-keyring, KWallet) on Linux. keytar is an optional dependency; without it,
 * or without a running Secret Service, every call fails with a clear reason.
 */
export class KeychainSecretStore implements SecretStore {
  readonly name = 'keychain';
  readonly writable = true;
  private keytar: Promise<Keytar> | undefined;

  constructor(private readonly service = KEYCHAIN_SERVICE) {}

  private load(): Promise<Keytar> {
    // A specifier in a variable: keytar is optional, and the build must not need its types.
    const keytarModule = 'keytar';
    this.keytar ??= import(keytarModule).then(
      (m) => ((m as { default?: Keytar }).default ?? m) as Keytar,
      (error: unknown) => {
        throw new BackupctlError(
          ErrorCodes.secretStoreUnavailable,
          'the OS keychain is not available: keytar is not installed',
          {
            source: 'environment',
            cause: error,
            resolution:
              'On Linux install libsecret (apt-get install libsecret-1-dev) and reinstall backupctl, or use BACKUPCTL_PASSWORD or systemd credentials.',
          },
        );
      },
    );
    return this.keytar;
  }

  async get(account: string): Promise<string | undefined> {
    const keytar = await this.load();
    return (await this.call(() => keytar.getPassword(this.service, account))) ?? undefined;
  }

  async set(account: string, secret: string): Promise<void> {
    const keytar = await this.load();
    await this.call(() => keytar.setPassword(this.service, account, secret));
  }

  async delete(account: string): Promise<boolean> {
    const keytar = await this.load();
    return this.call(() => keytar.deletePassword(this.service, account));
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw keychainError(error);
    }
  }
}

/** keytar's (libsecret's) raw texts, mapped to what they mean and what to do. */
export function keychainError(error: unknown): BackupctlError {
  const text = errorMessage(error);
  const known: Array<[RegExp, string, string]> = [
    [
      /autolaunch D-Bus|DBUS_SESSION_BUS_ADDRESS|Cannot spawn a message bus/i,
      'no D-Bus session bus: the keychain needs a desktop session',
      'Run from a logged-in desktop session, or use systemd credentials (LoadCredentialEncrypted=) or BACKUPCTL_PASSWORD for timers.',
    ],
    [
      /org\.freedesktop\.secrets was not provided/i,
      'no Secret Service is running (gnome-keyring or KWallet)',
      'Install and start gnome-keyring (apt-get install gnome-keyring), or use systemd credentials or BACKUPCTL_PASSWORD.',
    ],
    [
      /collection\/login|Object does not exist at path/i,
      'the keyring has no login collection',
      'Open "Passwords and Keys" (seahorse) and create a default keyring, then try again.',
    ],
    [
      /locked collection|is locked/i,
      'the keyring is locked',
      'Unlock it (log in to the desktop, or `gnome-keyring-daemon --unlock`), then try again.',
    ],
  ];
  for (const [pattern, what, resolution] of known) {
    if (pattern.test(text)) {
      return new BackupctlError(ErrorCodes.secretStoreUnavailable, `keychain unavailable: ${what}`, {
        source: 'environment',
        cause: error,
        resolution,
      });
    }
  }
  return new BackupctlError(ErrorCodes.secretStoreUnavailable, `keychain error: ${text}`, {
    source: 'environment',
    cause: error,
  });
}
