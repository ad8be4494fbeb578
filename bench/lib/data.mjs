// Deterministic test data: an AES-128-CTR keystream of a seed (incompressible, no
// duplicate chunks, GB/s fast), so every run and every tool sees the same bytes.
import { createCipheriv, createHash } from 'node:crypto';
import { promises as fs, mkdirSync } from 'node:fs';
import path from 'node:path';

const ZERO = Buffer.alloc(8 * 1024 * 1024);

/** A stream of pseudo-random bytes for `seed`. */
export class RandomStream {
  constructor(seed) {
    const key = createHash('sha256').update(`bench:${seed}`).digest();
    this.cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  }
  bytes(n) {
    if (n <= ZERO.length) return this.cipher.update(ZERO.subarray(0, n));
    const out = Buffer.allocUnsafe(n);
    for (let off = 0; off < n; off += ZERO.length) {
      const len = Math.min(ZERO.length, n - off);
      this.cipher.update(ZERO.subarray(0, len)).copy(out, off);
    }
    return out;
  }
}

/** A seeded PRNG (mulberry32) for sizes and names. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function writeFiles(root, sizes, seed, perDir) {
  mkdirSync(root, { recursive: true });
  const rnd = new RandomStream(seed);
  const manifest = {};
  let total = 0;
  for (let i = 0; i < sizes.length; i++) {
    const d1 = Math.floor(i / (perDir * 10));
    const d2 = Math.floor(i / perDir) % 10;
    const rel = path.join(`d${String(d1).padStart(3, '0')}`, `s${d2}`, `f${String(i).padStart(6, '0')}.bin`);
    const file = path.join(root, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    const data = rnd.bytes(sizes[i]);
    await fs.writeFile(file, data);
    manifest[rel] = { size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
    total += data.length;
  }
  return { root, files: sizes.length, bytes: total, manifest };
}

/**
 * A mixed tree: `files` files totalling about `mib` MiB, sizes log-uniform (a few bytes
 * to a few MiB, like a home folder: many small files, most bytes in few large ones).
 */
export function makeTree(root, { files, mib, seed = 1 }) {
  const r = prng(seed);
  const weights = Array.from({ length: files }, () => Math.exp(r() * Math.log(4096)));
  const sum = weights.reduce((a, b) => a + b, 0);
  const total = mib * 1024 * 1024;
  const sizes = weights.map((w) => Math.max(1, Math.round((w / sum) * total)));
  return writeFiles(root, sizes, `tree${seed}`, 20);
}

/** `files` small files of 512 B to 8 KiB. */
export function makeSmallFiles(root, { files, seed = 3 }) {
  const r = prng(seed);
  const sizes = Array.from({ length: files }, () => 512 + Math.floor(r() * (8 * 1024 - 512)));
  return writeFiles(root, sizes, `small${seed}`, 100);
}

/** One file of `mib` MiB. */
export async function makeBigFile(file, { mib, seed = 2 }) {
  mkdirSync(path.dirname(file), { recursive: true });
  const rnd = new RandomStream(`big${seed}`);
  const handle = await fs.open(file, 'w');
  try {
    for (let left = mib * 1024 * 1024; left > 0; ) {
      const n = Math.min(left, 8 * 1024 * 1024);
      await handle.write(rnd.bytes(n));
      left -= n;
    }
  } finally {
    await handle.close();
  }
  return { file, bytes: mib * 1024 * 1024 };
}

/** Overwrites `mib` MiB in the middle of `file` with new random bytes (size unchanged). */
export async function editMiddle(file, { mib = 1, seed = 9 } = {}) {
  const { size } = await fs.stat(file);
  const len = Math.min(size, mib * 1024 * 1024);
  const offset = Math.floor((size - len) / 2);
  const handle = await fs.open(file, 'r+');
  try {
    await handle.write(new RandomStream(`edit${seed}`).bytes(len), 0, len, offset);
  } finally {
    await handle.close();
  }
  return { offset, length: len };
}

/** Compares a restored folder with a manifest: { ok, missing, wrong, extra }. */
export async function verifyTree(root, manifest) {
  let missing = 0;
  let wrong = 0;
  for (const [rel, want] of Object.entries(manifest)) {
    let data;
    try {
      data = await fs.readFile(path.join(root, rel));
    } catch {
      missing++;
      continue;
    }
    if (data.length !== want.size || createHash('sha256').update(data).digest('hex') !== want.sha256) wrong++;
  }
  return { ok: missing === 0 && wrong === 0, missing, wrong };
}

/** Files and bytes under a folder (a local repository's size). */
export async function duFiles(root, filter = () => true) {
  let files = 0;
  let bytes = 0;
  const walk = async (d, rel) => {
    let entries;
    try {
      entries = await fs.readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(p, r);
      else if (e.isFile() && filter(r)) {
        files++;
        bytes += (await fs.stat(p)).size;
      }
    }
  };
  await walk(root, '');
  return { files, bytes };
}
