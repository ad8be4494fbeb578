#!/usr/bin/env bash
# smoke.sh BACKUPCTL... — a local init, push, restore through the given backupctl command,
# with the passphrase in the OS keychain (the default driver): run it under
# scripts/with-keyring.sh. Checks the restored tree is identical and that push and restore
# found the passphrase in the keychain alone (no BACKUPCTL_PASSWORD). Used by .ci/run.
set -euo pipefail
work="$(mktemp -d "${TMPDIR:-/tmp}/backupctl-smoke.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export BACKUPCTL_CONFIG_DIR="$work/config" BACKUPCTL_CACHE_DIR="$work/cache"
mkdir -p "$work/src/sub"
printf 'hello\n' >"$work/src/a.txt"
head -c 3000000 /dev/urandom >"$work/src/sub/blob.bin"
"$@" --help >/dev/null
BACKUPCTL_PASSWORD='smoke test passphrase' "$@" init --repo "$work/repo" --path "$work/src"
unset BACKUPCTL_PASSWORD
"$@" push
"$@" restore latest --target "$work/restored"
diff -r "$work/src" "$work/restored$work/src"
echo "smoke: init, push, restore through the keychain ok"
