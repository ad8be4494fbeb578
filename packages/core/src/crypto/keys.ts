import { randomBytes, scrypt as scryptCallback } from 'node:crypto';
import { promisify } from 'node:util';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import { decrypt, encrypt, importEncryptionKey, type SecretKey } from './cipher.js';

const scrypt = promisify(scryptCallback) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

/** The repository's secrets. Random; never derived from the passphrase. */
export interface MasterKey {
  /** AES-256-GCM key for every object. */
  encryption: Buffer;
  /** HMAC-SHA-256 key that turns content into blob ids (keyed, so ids reveal nothing). */
  id: Buffer;
  /** Seed of the chunker's gear table. */
  chunkerSeed: Buffer;
}

export interface KdfParams {
  algorithm: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
}

/** The `keys/<id>` object: the master key wrapped by a passphrase-derived key. */
export interface KeyFile {
  version: 1;
  created: string;
  host: string;
  kdf: KdfParams;
  /** base64 of nonce ‖ AES-256-GCM(master key JSON) ‖ tag. */
  wrapped: string;
}

export const DEFAULT_KDF = { N: 2 ** 15, r: 8, p: 1 } as const;

export function newMasterKey(): MasterKey {
  return { encryption: randomBytes(32), id: randomBytes(32), chunkerSeed: randomBytes(32) };
}

async function deriveWrappingKey(passphrase: string, kdf: KdfParams): Promise<SecretKey> {
  const raw = await scrypt(passphrase, Buffer.from(kdf.salt, 'base64'), 32, {
    N: kdf.N,
    r: kdf.r,
    p: kdf.p,
    maxmem: 256 * kdf.N * kdf.r,
  });
  return importEncryptionKey(raw);
}

export async function wrapMasterKey(
  master: MasterKey,
  passphrase: string,
  host: string,
  params: { N: number; r: number; p: number } = DEFAULT_KDF,
): Promise<KeyFile> {
  const kdf: KdfParams = { algorithm: 'scrypt', ...params, salt: randomBytes(16).toString('base64') };
  const key = await deriveWrappingKey(passphrase, kdf);
  const plain = Buffer.from(
    JSON.stringify({
      encryption: master.encryption.toString('base64'),
      id: master.id.toString('base64'),
      chunkerSeed: master.chunkerSeed.toString('base64'),
    }),
  );
  const sealed = await encrypt(key, plain);
  return { version: 1, created: new Date().toISOString(), host, kdf, wrapped: sealed.toString('base64') };
}

export async function unwrapMasterKey(file: KeyFile, passphrase: string): Promise<MasterKey> {
  const key = await deriveWrappingKey(passphrase, file.kdf);
  let plain: Buffer;
  try {
    plain = await decrypt(key, Buffer.from(file.wrapped, 'base64'));
  } catch {
    throw new BackupctlError(ErrorCodes.wrongPassword, 'the passphrase does not open this repository', {
      resolution:
        'Check BACKUPCTL_PASSWORD or the passphrase stored in the keychain (item "backupctl: passphrase of <repository>"); it must be the one given to `backupctl init`.',
    });
  }
  const json = JSON.parse(plain.toString()) as Record<string, string>;
  return {
    encryption: Buffer.from(json.encryption ?? '', 'base64'),
    id: Buffer.from(json.id ?? '', 'base64'),
    chunkerSeed: Buffer.from(json.chunkerSeed ?? '', 'base64'),
  };
}
