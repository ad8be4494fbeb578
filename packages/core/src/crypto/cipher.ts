import { randomBytes, webcrypto } from 'node:crypto';

/**
 * Authenticated encryption of every stored object: AES-256-GCM, a random 96-bit nonce per
 * object, stored as nonce ‖ ciphertext ‖ 128-bit tag. WebCrypto runs on libuv's thread
 * pool, so encryption and hashing proceed on the other core while the main thread chunks.
 */
const { subtle } = webcrypto;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const OVERHEAD = NONCE_BYTES + TAG_BYTES;

export function importEncryptionKey(raw: Uint8Array): Promise<webcrypto.CryptoKey> {
  return subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
}

export function importIdKey(raw: Uint8Array): Promise<webcrypto.CryptoKey> {
  return subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
}

export async function encrypt(key: webcrypto.CryptoKey, plain: Uint8Array): Promise<Buffer> {
  const nonce = randomBytes(NONCE_BYTES);
  const sealed = await subtle.encrypt({ name: 'AES-GCM', iv: nonce }, key, plain);
  const out = Buffer.allocUnsafe(NONCE_BYTES + sealed.byteLength);
  nonce.copy(out, 0);
  Buffer.from(sealed).copy(out, NONCE_BYTES);
  return out;
}

/** Throws when the data was altered or the key is wrong (GCM tag mismatch). */
export async function decrypt(key: webcrypto.CryptoKey, sealed: Uint8Array): Promise<Buffer> {
  if (sealed.byteLength < OVERHEAD) throw new Error('ciphertext too short');
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const plain = await subtle.decrypt({ name: 'AES-GCM', iv: nonce }, key, sealed.subarray(NONCE_BYTES));
  return Buffer.from(plain);
}

/** Keyed content id (HMAC-SHA-256), hex. */
export async function contentId(key: webcrypto.CryptoKey, data: Uint8Array): Promise<string> {
  return Buffer.from(await subtle.sign('HMAC', key, data)).toString('hex');
}
