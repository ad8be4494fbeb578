import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  type KeyObject,
  randomBytes,
} from 'node:crypto';

/**
 * Authenticated encryption of every stored object: AES-256-GCM, a random 96-bit nonce per
 * object, stored as nonce ‖ ciphertext ‖ 128-bit tag.
 *
 * Node's synchronous crypto (OpenSSL, AES-NI and SHA extensions) runs at GB/s; WebCrypto
 * would move the work to the thread pool but copies every input first, which cost more
 * than it saved (profiled: see docs/benchmarks.md). Parallelism comes from the chunk
 * workers instead, which compress and encrypt every new data blob (chunk/chunk-worker.ts).
 */
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const OVERHEAD = NONCE_BYTES + TAG_BYTES;

export type SecretKey = KeyObject;

export async function importEncryptionKey(raw: Uint8Array): Promise<SecretKey> {
  if (raw.byteLength !== 32) throw new RangeError('AES-256 needs a 32-byte key');
  return createSecretKey(raw);
}

export async function importIdKey(raw: Uint8Array): Promise<SecretKey> {
  return createSecretKey(raw);
}

/** Random nonces drawn in batches: one RNG call per 1,365 objects, not one per object. */
let noncePool = Buffer.alloc(0);
let nonceAt = 0;
function nextNonce(): Buffer {
  if (nonceAt + NONCE_BYTES > noncePool.length) {
    noncePool = randomBytes(NONCE_BYTES * 1365);
    nonceAt = 0;
  }
  const nonce = noncePool.subarray(nonceAt, nonceAt + NONCE_BYTES);
  nonceAt += NONCE_BYTES;
  return nonce;
}

export function encryptSync(key: SecretKey, plain: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(NONCE_BYTES + plain.byteLength + TAG_BYTES);
  encryptInto(key, plain, out, 0);
  return out;
}

/**
 * Seals `plain` into `out` at `at` (nonce ‖ ciphertext ‖ tag, `plain.byteLength + OVERHEAD`
 * bytes, which it returns): a caller gathering many blobs into one buffer (a pack, a
 * worker's batch) allocates nothing per blob but the cipher's own output.
 */
export function encryptInto(key: SecretKey, plain: Uint8Array, out: Buffer, at: number): number {
  const start = at;
  const nonce = nextNonce();
  nonce.copy(out, at);
  at += NONCE_BYTES;
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  at += cipher.update(plain).copy(out, at);
  at += cipher.final().copy(out, at);
  at += cipher.getAuthTag().copy(out, at);
  return at - start;
}

export async function encrypt(key: SecretKey, plain: Uint8Array): Promise<Buffer> {
  return encryptSync(key, plain);
}

/** Throws when the data was altered or the key is wrong (GCM tag mismatch). */
export async function decrypt(key: SecretKey, sealed: Uint8Array): Promise<Buffer> {
  if (sealed.byteLength < OVERHEAD) throw new Error('ciphertext too short');
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAuthTag(sealed.subarray(sealed.byteLength - TAG_BYTES));
  const body = decipher.update(sealed.subarray(NONCE_BYTES, sealed.byteLength - TAG_BYTES));
  const tail = decipher.final();
  return tail.length === 0 ? body : Buffer.concat([body, tail]);
}

export function contentIdSync(key: SecretKey, data: Uint8Array): string {
  return createHmac('sha256', key).update(data).digest('hex');
}

/** Keyed content id (HMAC-SHA-256), hex. */
export async function contentId(key: SecretKey, data: Uint8Array): Promise<string> {
  return contentIdSync(key, data);
}
