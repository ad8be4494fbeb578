#!/usr/bin/env bash
# Regenerates package-lock.json from the package.json files so that it holds every
# platform's optional packages (biome's, turbo's, @napi-rs/keyring's, rolldown's…) and no
# registry URL, then brings node_modules in line with it. Run it after changing a
# dependency in any package.json (instead of a bare `npm install`), and commit the lock.
#
# Recipe: resolve from scratch (no lock) in a scratch copy of the package.json files with
# no node_modules — npm leaves out of the lock the other platforms' optional packages when
# it builds on a lock or an installed tree that lacks them — with
# omit-lockfile-registry-resolved (also in .npmrc) and without running install scripts;
# then check the result (scripts/check-lock.mjs) and install from it with `npm ci`.
# Versions are re-resolved within the package.json ranges: review the diff.
# usage: scripts/update-lock.sh [--no-install]
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

cp package.json .npmrc "$scratch/"
for ws in $(node -e 'console.log(require("./package.json").workspaces.join("\n"))'); do
  mkdir -p "$scratch/$ws"
  cp "$ws/package.json" "$scratch/$ws/"
done
(cd "$scratch" && npm install --package-lock-only --ignore-scripts --no-audit --no-fund \
  --omit-lockfile-registry-resolved=true >/dev/null)
node scripts/check-lock.mjs "$scratch/package-lock.json"
cp "$scratch/package-lock.json" package-lock.json
if [ "${1:-}" != --no-install ]; then
  npm ci --no-audit --no-fund
fi
git diff --stat -- package-lock.json || true
