import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { BackupctlError, ErrorCodes } from '../../src/errors/index.js';
import {
  deviceKeyAccount,
  passwordAccount,
  type SecretStore,
  secretLabel,
} from '../../src/secrets/secret-store.js';

const execFileAsync = promisify(execFile);

/**
 * The one contract every SecretStore keeps, run against each of them: the keychain
 * through both drivers (on a real gnome-keyring), systemd credentials, the environment.
 * `seeded` is what a read-only store was given before the test (account → secret).
 */
export function secretStoreContract(
  make: () => SecretStore,
  options: { seeded?: Record<string, string> } = {},
): void {
  it('answers undefined for an account it does not hold', async () => {
    expect(await make().get(`absent:${Math.random()}`)).toBeUndefined();
  });

  const seeded = options.seeded ?? {};
  const writable = make().writable;
  if (!writable) {
    it('returns exactly what it was given, per account', async () => {
      const store = make();
      expect(Object.keys(seeded).length).toBeGreaterThan(0);
      for (const [account, secret] of Object.entries(seeded)) expect(await store.get(account)).toBe(secret);
    });

    it('refuses to store (SECRET_STORE_UNAVAILABLE) and deletes nothing', async () => {
      const store = make();
      const [account, secret] = Object.entries(seeded)[0] ?? ['a', 'b'];
      const error = await store.set(account, 'other').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(BackupctlError.is(error) && error.code).toBe(ErrorCodes.secretStoreUnavailable);
      expect(await store.delete(account)).toBe(false);
      expect(await store.get(account)).toBe(secret);
    });
    return;
  }

  it('stores a secret, reads it back byte for byte, replaces it, deletes it', async () => {
    const store = make();
    const account = passwordAccount(`/tmp/contract-${Math.random()}`);
    const secret = 'pässwörd with spaces, "quotes", \\ and 日本語';
    await store.set(account, secret);
    expect(await store.get(account)).toBe(secret);
    // A fresh instance (another process, in real life) sees it too.
    expect(await make().get(account)).toBe(secret);
    await store.set(account, 'replaced');
    expect(await store.get(account)).toBe('replaced');
    expect(await store.delete(account)).toBe(true);
    expect(await store.get(account)).toBeUndefined();
    expect(await store.delete(account)).toBe(false);
  });

  it("keeps a device's two secrets apart: the passphrase and the AWS access key", async () => {
    const store = make();
    const device = `laptop-${Math.random().toString(36).slice(2, 8)}`;
    const pass = passwordAccount(`s3://bucket/devices/${device}`);
    const key = deviceKeyAccount(device);
    const awsKey = JSON.stringify({
      accessKeyId: 'AKIAEXAMPLEEXAMPLE12',
      secretAccessKey: 'x/y+z'.repeat(8),
    });
    await store.set(pass, 'the passphrase');
    await store.set(key, awsKey);
    expect(await store.get(pass)).toBe('the passphrase');
    expect(JSON.parse((await store.get(key)) ?? '{}')).toEqual(JSON.parse(awsKey));
    expect(await store.delete(pass)).toBe(true);
    expect(await store.get(key)).toBe(awsKey);
    expect(await store.delete(key)).toBe(true);
  });
}

/** One Secret Service item, as libsecret's own tool sees it (`secret-tool search`). */
export interface SecretServiceItem {
  label: string;
  secret: string;
  /** Only filled when the search matched one item (secret-tool prints them apart, on stderr). */
  attributes: Record<string, string>;
}

export async function secretServiceItems(
  env: Record<string, string>,
  attributes: Record<string, string>,
): Promise<SecretServiceItem[]> {
  let stdout = '';
  let stderr = '';
  try {
    ({ stdout, stderr } = await execFileAsync(
      'secret-tool',
      ['search', '--all', '--unlock', ...Object.entries(attributes).flat()],
      { env: { ...process.env, ...env } },
    ));
  } catch {
    return [];
  }
  const items: SecretServiceItem[] = [];
  for (const line of stdout.split('\n')) {
    if (line.startsWith('[')) items.push({ label: '', secret: '', attributes: {} });
    const item = items.at(-1);
    const m = /^(label|secret) = (.*)$/.exec(line);
    if (item && m) item[m[1] as 'label' | 'secret'] = m[2] ?? '';
  }
  const only = items.length === 1 ? items[0] : undefined;
  for (const line of stderr.split('\n')) {
    const m = /^attribute\.(\S+) = (.*)$/.exec(line);
    if (only && m) only.attributes[m[1] ?? ''] = m[2] ?? '';
  }
  return items;
}

/** The labels a person sees, checked on the real Secret Service. */
export function labelContract(
  make: () => SecretStore,
  env: () => Record<string, string>,
  accountAttribute: string,
) {
  it('labels items so a person knows what they are: "backupctl: <device> AWS key", "backupctl: passphrase of …"', async () => {
    const store = make();
    const device = `desk-${Math.random().toString(36).slice(2, 8)}`;
    const repo = `/tmp/labels-${device}`;
    await store.set(deviceKeyAccount(device), '{"accessKeyId":"A","secretAccessKey":"B"}');
    await store.set(passwordAccount(repo), 'label passphrase');
    try {
      const keys = await secretServiceItems(env(), { [accountAttribute]: deviceKeyAccount(device) });
      expect(keys).toHaveLength(1);
      const [key] = keys;
      expect(key?.label).toContain(`backupctl: ${device} AWS key`);
      expect(key?.attributes.service).toBe(secretLabel(deviceKeyAccount(device)));
      expect(key?.secret).toBe('{"accessKeyId":"A","secretAccessKey":"B"}');
      const [pass] = await secretServiceItems(env(), { [accountAttribute]: passwordAccount(repo) });
      expect(pass?.label).toContain(`backupctl: passphrase of ${repo}`);
      expect(pass?.secret).toBe('label passphrase');
    } finally {
      await store.delete(deviceKeyAccount(device));
      await store.delete(passwordAccount(repo));
    }
  });
}
