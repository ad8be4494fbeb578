/**
 * Ctrl-C anywhere (a prompt, a push, a restore): the terminal is left as it was found
 * (cursor shown, echo and line mode back), one line says what happened, exit 130.
 * Work in flight is abandoned as after a crash, which the repository format survives: the
 * next push reuses the packs already written (docs/repository-format.md).
 */
export const INTERRUPTED_EXIT = 130;

let json = false;
let installed = false;

/** Installs the SIGINT handler once per process; `--json` answers with a JSON document. */
export function installInterruptHandler(options: { json: boolean }): void {
  json = options.json;
  if (installed) return;
  installed = true;
  process.on('SIGINT', () => interrupted());
}

/** Restores the terminal, prints one line, and exits 130. */
export function interrupted(what = 'interrupted'): never {
  if (process.stdin.isTTY && process.stdin.isRaw) process.stdin.setRawMode(false);
  if (process.stderr.isTTY) {
    // Clear the line (a progress bar, a prompt), show the cursor again.
    process.stderr.write('\r\x1b[2K\x1b[?25h');
  }
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ error: { code: 'INTERRUPTED', message: what }, exitCode: INTERRUPTED_EXIT })}\n`,
    );
  } else {
    process.stderr.write(`backupctl: ${what} (Ctrl-C)\n`);
  }
  process.exit(INTERRUPTED_EXIT);
}
