#!/usr/bin/env node
// Checks that package-lock.json is complete for every platform and records no registry
// URL: every optional dependency of every locked package (the per-platform binaries of
// biome, turbo, @napi-rs/keyring, rolldown, esbuild…) has its own entry, and no entry has a
// `resolved` registry URL (omit-lockfile-registry-resolved). npm only installs the ones for
// the running platform, so a lock made on one machine can silently lack the others — then
// `npm install` elsewhere rewrites it and `npm ci` refuses it.
// usage: node scripts/check-lock.mjs [package-lock.json]
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'package-lock.json';
const lock = JSON.parse(readFileSync(file, 'utf8'));
const packages = lock.packages ?? {};
const problems = [];

/** Where npm would find `name` from the package at `location` (node_modules lookup upwards). */
function resolves(location, name) {
  let base = location;
  for (;;) {
    if (packages[`${base ? `${base}/` : ''}node_modules/${name}`]) return true;
    if (!base) return false;
    const i = base.lastIndexOf('/node_modules/');
    // A workspace folder (packages/core) resolves from the root once its own node_modules fails.
    base = i === -1 ? '' : base.slice(0, i);
  }
}

for (const [location, entry] of Object.entries(packages)) {
  if (typeof entry.resolved === 'string' && /^https?:/.test(entry.resolved)) {
    problems.push(`${location || '(root)'}: records a registry URL (${entry.resolved})`);
  }
  if (entry.link) continue;
  for (const name of Object.keys(entry.optionalDependencies ?? {})) {
    if (!resolves(location, name))
      problems.push(`${location || '(root)'}: optional dependency ${name} is not in the lock`);
  }
}

if (problems.length > 0) {
  console.error(`${file} is incomplete or records registry URLs:\n  ${problems.join('\n  ')}`);
  console.error('Regenerate it with scripts/update-lock.sh.');
  process.exit(1);
}
console.log(
  `${file}: ${Object.keys(packages).length} entries, every platform's optional packages present, no registry URLs`,
);
