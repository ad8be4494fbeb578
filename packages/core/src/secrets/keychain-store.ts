import type { AsyncEntry, EntryOptions } from '@napi-rs/keyring';
import { BackupctlError, ErrorCodes, errorMessage } from '../errors/index.js';
import { type SecretStore, secretLabel } from './secret-store.js';

/**
 * The OS keychain drivers: `keyring` (default: @napi-rs/keyring, prebuilt for every
 * platform, no compiler) and `keytar` (optional, archived upstream; chosen with the device
 * config's `secrets.keychain: "keytar"`, installed only where it can be compiled).
 */
export const KEYCHAIN_DRIVERS = ['keyring', 'keytar'] as const;
export type KeychainDriverName = (typeof KEYCHAIN_DRIVERS)[number];
export const DEFAULT_KEYCHAIN_DRIVER: KeychainDriverName = 'keyring';

/** Items made before labels existed (keytar, service "backupctl"): still read, and deleted. */
export const LEGACY_KEYCHAIN_SERVICE = 'backupctl';

/** One keychain item is (service, account); the service is the item's label. */
interface KeychainDriver {
  get(service: string, account: string): Promise<string | null>;
  set(service: string, account: string, secret: string): Promise<void>;
  delete(service: string, account: string): Promise<boolean>;
}

interface Keytar {
  getPassword(service: string, account: string): Promise<string | null>;
  setPassword(service: string, account: string, password: string): Promise<void>;
  deletePassword(service: string, account: string): Promise<boolean>;
}

/**
 * Pinned to the Secret Service on Linux: never the kernel keyring (keyutils), which
 * @napi-rs/keyring would otherwise fall back to without a word and which does not survive
 * a reboot. Other platforms: the OS keychain (macOS Keychain, Windows Credential Manager).
 */
export const NAPI_KEYRING_OPTIONS: EntryOptions = { linux: { store: 'secret-service' } };

async function loadNapiKeyring(): Promise<KeychainDriver> {
  let Entry: typeof AsyncEntry;
  try {
    ({ AsyncEntry: Entry } = await import('@napi-rs/keyring'));
  } catch (error) {
    throw new BackupctlError(
      ErrorCodes.secretStoreUnavailable,
      'the OS keychain is not available: @napi-rs/keyring has no binary for this platform',
      {
        source: 'environment',
        cause: error,
        resolution: `Reinstall backupctl (npm installs the binary for ${process.platform}-${process.arch}), or ${WITHOUT_KEYCHAIN}`,
      },
    );
  }
  // The constructor already talks to the store (it throws when none is reachable).
  const entry = (service: string, account: string) => new Entry(service, account, NAPI_KEYRING_OPTIONS);
  return {
    get: async (service, account) => entry(service, account).getPassword(),
    set: async (service, account, secret) => entry(service, account).setPassword(secret),
    delete: async (service, account) => entry(service, account).deletePassword(),
  };
}

async function loadKeytar(): Promise<KeychainDriver> {
  // A specifier in a variable: keytar is optional, and the build must not need its types.
  const keytarModule = 'keytar';
  let keytar: Keytar;
  try {
    const m = (await import(keytarModule)) as { default?: Keytar } & Keytar;
    keytar = m.default ?? m;
  } catch (error) {
    throw new BackupctlError(
      ErrorCodes.secretStoreUnavailable,
      'the keychain driver "keytar" (device config secrets.keychain) is not installed',
      {
        source: 'environment',
        cause: error,
        resolution: `Install it where it can be compiled (Linux: apt-get install libsecret-1-dev, then npm install keytar), or remove "secrets.keychain" from the device config to use the default driver, or ${WITHOUT_KEYCHAIN}`,
      },
    );
  }
  return {
    get: (service, account) => keytar.getPassword(service, account),
    set: (service, account, secret) => keytar.setPassword(service, account, secret),
    delete: (service, account) => keytar.deletePassword(service, account),
  };
}

const LOADERS: Record<KeychainDriverName, () => Promise<KeychainDriver>> = {
  keyring: loadNapiKeyring,
  keytar: loadKeytar,
};

export interface KeychainSecretStoreOptions {
  /** Default: `keyring` (@napi-rs/keyring). */
  driver?: KeychainDriverName;
  /**
   * The item's service (the label people see in Seahorse or Keychain Access) for an
   * account. Default: {@link secretLabel}. Tests give their own to keep items apart.
   */
  serviceFor?: (account: string) => string;
}

/**
 * The OS keychain: macOS Keychain, Windows Credential Manager, the Secret Service
 * (gnome-keyring, KWallet) on Linux, through one of two drivers. Without a reachable
 * keychain every call fails with SECRET_STORE_UNAVAILABLE, what is wrong and what to do.
 * Each item's service is its label (`backupctl: laptop AWS key`), so a person looking in
 * the keychain knows what it is.
 */
export class KeychainSecretStore implements SecretStore {
  readonly name = 'keychain';
  readonly writable = true;
  readonly driver: KeychainDriverName;
  private readonly serviceFor: (account: string) => string;
  private loaded: Promise<KeychainDriver> | undefined;

  constructor(options: KeychainSecretStoreOptions = {}) {
    this.driver = options.driver ?? DEFAULT_KEYCHAIN_DRIVER;
    if (!KEYCHAIN_DRIVERS.includes(this.driver)) {
      throw new BackupctlError(ErrorCodes.configInvalid, `unknown keychain driver "${String(this.driver)}"`, {
        resolution: `Set secrets.keychain in the device config to one of: ${KEYCHAIN_DRIVERS.join(', ')}.`,
      });
    }
    this.serviceFor = options.serviceFor ?? secretLabel;
  }

  private load(): Promise<KeychainDriver> {
    this.loaded ??= LOADERS[this.driver]();
    return this.loaded;
  }

  /** Throws SECRET_STORE_UNAVAILABLE (with what to do) unless the keychain can be used now. */
  async probe(): Promise<void> {
    await this.get('probe');
  }

  async get(account: string): Promise<string | undefined> {
    const driver = await this.load();
    const value = await this.call(() => driver.get(this.serviceFor(account), account));
    if (value !== null) return value;
    if (this.driver === 'keytar') {
      return (await this.call(() => driver.get(LEGACY_KEYCHAIN_SERVICE, account))) ?? undefined;
    }
    return undefined;
  }

  async set(account: string, secret: string): Promise<void> {
    const driver = await this.load();
    await this.call(() => driver.set(this.serviceFor(account), account, secret));
  }

  async delete(account: string): Promise<boolean> {
    const driver = await this.load();
    const deleted = await this.call(() => driver.delete(this.serviceFor(account), account));
    if (this.driver !== 'keytar') return deleted;
    return (await this.call(() => driver.delete(LEGACY_KEYCHAIN_SERVICE, account))) || deleted;
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw keychainError(error);
    }
  }
}

/** The keychain a device config asks for (`secrets.keychain`, default `keyring`). */
export function keychainForConfig(config: {
  secrets?: { keychain?: KeychainDriverName };
}): KeychainSecretStore {
  return new KeychainSecretStore({ driver: config.secrets?.keychain ?? DEFAULT_KEYCHAIN_DRIVER });
}

/** The alternatives to the keychain, named in every "keychain unavailable" message. */
export const WITHOUT_KEYCHAIN =
  'do without the keychain: set BACKUPCTL_PASSWORD and pass --no-keychain, or provide the systemd credential "backupctl-password" (LoadCredentialEncrypted=, see examples/systemd).';

/** The drivers' raw texts (libsecret's, zbus's), mapped to what they mean and what to do. */
export function keychainError(error: unknown): BackupctlError {
  if (BackupctlError.is(error)) return error;
  const text = errorMessage(error);
  const known: Array<[RegExp, string, string]> = [
    [
      /autolaunch|DBUS_SESSION_BUS_ADDRESS|Cannot spawn a message bus|session bus/i,
      'no D-Bus session bus: the keychain needs a desktop session',
      `Run from a logged-in desktop session, or ${WITHOUT_KEYCHAIN}`,
    ],
    [
      /org\.freedesktop\.secrets was not provided|ServiceUnknown|no such name|Did not receive a reply/i,
      'no Secret Service is running (gnome-keyring or KWallet)',
      `Install and start gnome-keyring (apt-get install gnome-keyring), or ${WITHOUT_KEYCHAIN}`,
    ],
    [
      /collection\/login|Object does not exist at path|no default collection|NoSuchObject/i,
      'the keyring has no login collection',
      `Open "Passwords and Keys" (seahorse) and create a default keyring, then try again; or ${WITHOUT_KEYCHAIN}`,
    ],
    [
      /locked collection|is locked|\blocked\b/i,
      'the keyring is locked',
      `Unlock it (log in to the desktop, or \`gnome-keyring-daemon --unlock\`), then try again; or ${WITHOUT_KEYCHAIN}`,
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
    resolution: `Check the OS keychain, or ${WITHOUT_KEYCHAIN}`,
  });
}
