import { BackupctlError, ErrorCodes } from '@backupctl/core';
import type { Hook } from '@oclif/core';
import { toConfiguredId } from '@oclif/core';
import notFoundPlugin from '@oclif/plugin-not-found';

/** Edit distance (insert, delete, substitute, swap of neighbours): `pus` → `push`. */
export function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [
    i,
    ...Array<number>(b.length).fill(0),
  ]);
  for (let j = 1; j <= b.length; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1);
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/** The closest command id, when it is close enough to be what was meant. */
export function closestCommand(id: string, ids: string[]): string | undefined {
  let best: { id: string; d: number } | undefined;
  for (const candidate of ids) {
    const d = distance(id, candidate);
    if (!best || d < best.d) best = { id: candidate, d };
  }
  if (!best) return undefined;
  const limit = Math.max(2, Math.floor(id.length / 3));
  return best.d <= limit || best.id.startsWith(id) ? best.id : undefined;
}

/**
 * An unknown command. On a terminal, @oclif/plugin-not-found asks "Did you mean push?" and
 * runs it when confirmed. Otherwise (scripts, --json, a declined suggestion): one error in
 * backupctl's style, with the suggestion as the next step, exit 2 (usage).
 */
const hook: Hook.CommandNotFound = async function (opts) {
  const json = (opts.argv ?? []).includes('--json');
  const ids = [...opts.config.commands.filter((c) => !c.hidden).flatMap((c) => [c.id, ...c.aliases])];
  const suggestion = closestCommand(opts.id, ids);
  if (suggestion && !json && process.stdin.isTTY && process.stderr.isTTY) {
    try {
      return await notFoundPlugin.call(this, opts);
    } catch (error) {
      if ((error as { oclif?: { exit?: number } }).oclif?.exit !== 127) throw error;
      // declined: fall through to the plain error below
    }
  }
  const typed = toConfiguredId(opts.id, opts.config);
  const next = suggestion
    ? `did you mean \`${opts.config.bin} ${toConfiguredId(suggestion, opts.config)}\`? All commands: \`${opts.config.bin} help\`.`
    : `See the commands with \`${opts.config.bin} help\`.`;
  // Thrown to bin/run.js, which prints every error outside a command in the one style.
  throw new BackupctlError(ErrorCodes.usage, `"${typed}" is not a ${opts.config.bin} command`, {
    resolution: next,
    ...(suggestion ? { details: { suggestion: toConfiguredId(suggestion, opts.config) } } : {}),
  });
};

export default hook;
