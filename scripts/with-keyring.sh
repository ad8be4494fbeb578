#!/usr/bin/env bash
# with-keyring.sh CMD [ARGS...] — runs CMD on a private D-Bus session bus with an unlocked
# gnome-keyring (a real Secret Service) in a throwaway HOME, then stops both. Exit code is
# CMD's. Needs gnome-keyring, dbus, dbus-x11 (Debian). Used by .ci/run.
set -uo pipefail
home="$(mktemp -d "${TMPDIR:-/tmp}/backupctl-keyring.XXXXXX")"
export HOME="$home" XDG_RUNTIME_DIR="$home/run" XDG_DATA_HOME="$home/data" XDG_CONFIG_HOME="$home/config"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
unset DISPLAY WAYLAND_DISPLAY
dbus-run-session -- bash -c '
  printf %s "ci-keyring-password" | gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &
  kpid=$!
  trap "kill $kpid 2>/dev/null; wait $kpid 2>/dev/null || true" EXIT
  gdbus wait --session --timeout 10 org.freedesktop.secrets || { echo "with-keyring: no Secret Service appeared" >&2; exit 90; }
  "$@"' bash "$@"
rc=$?
rm -rf "$home"
exit $rc
