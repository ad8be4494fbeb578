/**
 * Where secrets live. Never a plaintext file, never a silent fallback to one: a store
 * that cannot work says so (SECRET_STORE_UNAVAILABLE) and the caller decides.
 * Implementations: the OS keychain (two drivers), systemd credentials, the environment.
 */
export interface SecretStore {
  readonly name: string;
  readonly writable: boolean;
  get(account: string): Promise<string | undefined>;
  set(account: string, secret: string): Promise<void>;
  delete(account: string): Promise<boolean>;
}

/** The keychain account that holds a repository's passphrase. */
export function passwordAccount(repository: string): string {
  return `repository-password:${repository}`;
}

/** The keychain account that holds a device's AWS access key (JSON {accessKeyId, secretAccessKey}). */
export function deviceKeyAccount(device: string): string {
  return `aws-access-key:${device}`;
}

/**
 * The label a person sees for an account's item in Seahorse or Keychain Access:
 * `backupctl: laptop AWS key`, `backupctl: passphrase of /home/me/backups`. The keychain
 * store uses it as the item's service, so it is part of the item's identity: keep it stable.
 */
export function secretLabel(account: string): string {
  const [kind, ...rest] = account.split(':');
  const subject = rest.join(':');
  if (kind === 'aws-access-key' && subject) return `backupctl: ${subject} AWS key`;
  if (kind === 'repository-password' && subject) return `backupctl: passphrase of ${subject}`;
  return `backupctl: ${account}`;
}

/** systemd credential name (LoadCredential=backupctl-password:…) for the passphrase. */
export const SYSTEMD_PASSWORD_CREDENTIAL = 'backupctl-password';

/** A systemd credential file's secret: its text without the one line end an editor adds. */
export function credentialValue(fileText: string): string {
  return fileText.replace(/\r?\n$/, '');
}
