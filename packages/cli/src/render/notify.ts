import { spawn } from 'node:child_process';

/**
 * Tells the owner about a quarantine found by a push nobody watches: a desktop
 * notification where there is a graphical session (notify-send), and always a line for
 * the journal on stderr — with a syslog priority prefix (`<2>` = critical) when stderr is
 * the journal (systemd sets JOURNAL_STREAM), which journald reads as the message's level.
 */
export function notifyOwner(
  title: string,
  body: string,
  options: { desktop: boolean; journal: boolean },
): Promise<void> {
  const line = `${title}: ${body}`.replace(/\s+/g, ' ');
  process.stderr.write(options.journal ? `<2>${line}\n` : '');
  if (!options.desktop) return Promise.resolve();
  return new Promise((resolve) => {
    const child = spawn('notify-send', ['--urgency=critical', '--app-name=backupctl', title, body], {
      stdio: 'ignore',
    });
    child.on('error', () => resolve());
    child.on('exit', () => resolve());
  });
}
