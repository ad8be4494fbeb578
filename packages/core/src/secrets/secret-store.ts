/**
 * Where secrets live. Never a plaintext file, never a silent fallback to one: a store
 * that cannot work says so (SECRET_STORE_UNAVAILABLE) and the caller decides.
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

/** systemd credential name (LoadCredential=backupctl-password:…) for the passphrase. */
export const SYSTEMD_PASSWORD_CREDENTIAL = 'backupctl-password';
