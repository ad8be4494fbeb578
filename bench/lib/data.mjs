// Deterministic test data: an AES-128-CTR keystream of a seed (incompressible, no
// duplicate chunks, GB/s fast), so every run and every tool sees the same bytes.
import { createCipheriv, createHash } from 'node:crypto';
import { promises as fs, mkdirSync, writeFileSync } from 'node:fs';
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

const WORDS =
  'the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were their one all we can her has there been if more when will would who so no time file data backup config value error return function const let import export class new default true false null undefined string number object array push restore snapshot index pack tree repository device bucket key policy'.split(
    ' ',
  );

/** `bytes` of word-salad text from a seeded PRNG: compressible like prose or source code. */
export function textPool(bytes, seed = 5) {
  const r = prng(seed);
  const parts = [];
  let n = 0;
  let line = 0;
  while (n < bytes) {
    const w = WORDS[Math.floor(r() * WORDS.length)];
    const sep = ++line % 12 === 0 ? '\n' : ' ';
    parts.push(w, sep);
    n += w.length + 1;
  }
  return Buffer.from(parts.join('')).subarray(0, bytes);
}

/** Relative path of file `i` of a laptop tree: 100 files a folder, 100 folders a group. */
export function laptopPath(i) {
  const g = Math.floor(i / 10_000);
  const d = Math.floor(i / 100) % 100;
  const ext = i % 3 === 2 ? 'bin' : 'txt';
  return path.join(`g${String(g).padStart(3, '0')}`, `d${String(d).padStart(2, '0')}`, `f${i}.${ext}`);
}

/**
 * The content of file `i` at `version` (0 = as generated): 200 B – 3.2 KB; two thirds text
 * (a slice of a shared text pool at a seeded offset: compresses, rarely deduplicates), one
 * third random bytes; every 20th text file a copy of file i−1's text (a duplicate).
 */
export function laptopContent(i, version, pool, rnd) {
  const r = prng(i * 7919 + version * 104_729 + 1);
  const size = 200 + Math.floor(r() * 3000);
  if (i % 3 === 2) return rnd.bytes(size);
  const src = i % 20 === 0 && i > 0 && version === 0 ? i - 1 : i;
  const r2 = src === i ? r : prng(src * 7919 + 1);
  const s = src === i ? size : 200 + Math.floor(r2() * 3000);
  const off = Math.floor(r2() * (pool.length - s));
  return pool.subarray(off, off + s);
}

/**
 * A laptop-shaped tree of `files` small files (see laptopContent), written synchronously
 * (one open/write/close each; ~20–40 µs a file on ext4). Returns { root, files, bytes }.
 */
export function makeLaptopTree(root, { files, seed = 21, log }) {
  const pool = textPool(8 * 1024 * 1024, seed);
  const rnd = new RandomStream(`laptop${seed}`);
  let bytes = 0;
  let dir = '';
  const t = Date.now();
  for (let i = 0; i < files; i++) {
    const rel = laptopPath(i);
    const d = path.dirname(rel);
    if (d !== dir) {
      mkdirSync(path.join(root, d), { recursive: true });
      dir = d;
    }
    const data = laptopContent(i, 0, pool, rnd);
    writeFileSync(path.join(root, rel), data);
    bytes += data.length;
    if (log && i > 0 && i % 200_000 === 0) log(`  … ${i} files, ${((Date.now() - t) / 1000).toFixed(0)} s`);
  }
  return { root, files, bytes, seed };
}

/**
 * Rewrites `percent` % of a laptop tree's files (every (100/percent)th file, shifted by
 * `round` so each round changes other files) with new content. Returns { files, bytes }.
 */
export function changeLaptopTree(tree, { percent = 1, round = 1 }) {
  const pool = textPool(8 * 1024 * 1024, tree.seed);
  const rnd = new RandomStream(`laptop-change${tree.seed}-${round}`);
  const step = Math.round(100 / percent);
  let files = 0;
  let bytes = 0;
  for (let i = round % step; i < tree.files; i += step) {
    const data = laptopContent(i, round, pool, rnd);
    writeFileSync(path.join(tree.root, laptopPath(i)), data);
    files++;
    bytes += data.length;
  }
  return { files, bytes };
}

/** SHA-256 of a file, streamed (files over 2 GiB cannot be read into one Buffer). */
async function sha256File(file) {
  const hash = createHash('sha256');
  const handle = await fs.open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/**
 * Compares a restored folder with its source: every regular file's size, and the bytes of
 * every `sampleEvery`th file (all when 1); symlinks by target, counted apart.
 * { ok (regular files), files, missing, wrong, links, linksLost }.
 */
export async function compareTrees(src, dst, { sampleEvery = 1 } = {}) {
  let files = 0;
  let missing = 0;
  let wrong = 0;
  let links = 0;
  let linksLost = 0;
  const walk = async (rel) => {
    const entries = await fs.readdir(path.join(src, rel), { withFileTypes: true });
    for (const e of entries) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) {
        await walk(r);
        continue;
      }
      const a = path.join(src, r);
      const b = path.join(dst, r);
      if (e.isSymbolicLink()) {
        // Counted apart: rclone and `aws s3 sync` do not keep symlinks (a sync tool's choice).
        links++;
        const [ta, tb] = await Promise.all([fs.readlink(a), fs.readlink(b).catch(() => undefined)]);
        if (ta !== tb) linksLost++;
        continue;
      }
      if (!e.isFile()) continue;
      files++;
      const sb = await fs.stat(b).catch(() => undefined);
      if (!sb) {
        missing++;
        continue;
      }
      const sa = await fs.stat(a);
      if (sa.size !== sb.size) wrong++;
      else if (files % sampleEvery === 0 && (await sha256File(a)) !== (await sha256File(b))) wrong++;
    }
  };
  await walk('');
  return { ok: missing === 0 && wrong === 0, files, missing, wrong, links, linksLost };
}
