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

function scryptOf(passphrase: string, kdf: KdfParams): Promise<Buffer> {
  return scrypt(passphrase, Buffer.from(kdf.salt, 'base64'), 32, {
    N: kdf.N,
    r: kdf.r,
    p: kdf.p,
    maxmem: 256 * kdf.N * kdf.r,
  });
}

interface EarlyDerivation {
  passphrase: string;
  kdf: KdfParams;
  raw: Promise<Buffer>;
}

/** Derivations started by `deriveAhead`, by salt: each is taken once, or dropped. */
const early = new Map<string, EarlyDerivation>();

/** How long an early derivation nobody took is kept (a key file the open did not need). */
const EARLY_DERIVATION_TTL_MS = 30_000;

/**
 * Starts scrypt for a key file before the repository is opened: it runs on libuv's thread
 * pool while the main thread loads the command's modules (~0.1 s of every start-up,
 * otherwise spent waiting). `unwrapMasterKey` with the same passphrase and parameters takes
 * its result; anything else derives as before.
 */
export function deriveAhead(passphrase: string, kdf: KdfParams): void {
  if (early.has(kdf.salt)) return;
  const raw = scryptOf(passphrase, kdf);
  // Owned here: a failure is derived again, and so seen, by the open that needs it.
  raw.catch(() => undefined);
  early.set(kdf.salt, { passphrase, kdf: { ...kdf }, raw });
  setTimeout(() => {
    if (early.get(kdf.salt)?.raw === raw) early.delete(kdf.salt);
  }, EARLY_DERIVATION_TTL_MS).unref();
}

function takeEarly(passphrase: string, kdf: KdfParams): Promise<Buffer> | undefined {
  const found = early.get(kdf.salt);
  if (!found) return undefined;
  early.delete(kdf.salt);
  const same =
    found.passphrase === passphrase &&
    found.kdf.algorithm === kdf.algorithm &&
    found.kdf.N === kdf.N &&
    found.kdf.r === kdf.r &&
    found.kdf.p === kdf.p;
  return same ? found.raw : undefined;
}

async function deriveWrappingKey(passphrase: string, kdf: KdfParams): Promise<SecretKey> {
  const ahead = takeEarly(passphrase, kdf);
  const raw = ahead ? await ahead.catch(() => scryptOf(passphrase, kdf)) : await scryptOf(passphrase, kdf);
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
