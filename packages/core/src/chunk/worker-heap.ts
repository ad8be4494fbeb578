import { setFlagsFromString } from 'node:v8';

/**
 * The young generation of the chunk workers' heaps: 1 MiB semi-spaces.
 *
 * A tuned push runs with `--max-semi-space-size=8` (cli's memory-tuning.ts): the main
 * thread keeps many objects alive across a few turns (files on their way, tree parts), and
 * a small young generation made it scavenge too often. A chunk worker keeps almost nothing
 * alive (a batch's chunk views and ids), so its scavenges cost little whatever their number,
 * but at 8 MiB its two semi-spaces (16 MiB) are touched over and over: memory each worker
 * holds for garbage. V8 reads the flag once per isolate, when the isolate's heap is set up;
 * a flag on the command line wins over a Worker's `resourceLimits` and a Worker's `execArgv`
 * takes no V8 flag, so the flag is set for the moment the workers' isolates are made and
 * set back once they run (measured on the bench's real tree: ~40 MiB less peak RSS for two
 * workers, CPU unchanged; docs/benchmarks.md, "Push: the workers' young generation").
 */
export const WORKER_SEMI_SPACE_MB = 1;

const FLAG = '--max-semi-space-size';

/**
 * The process's own semi-space flag, as its command line (`execArgv`) or NODE_OPTIONS set
 * it, the last one winning as in V8; 0 (V8's "not set") when neither does.
 */
export function ownSemiSpaceMb(execArgv: readonly string[], nodeOptions = ''): number {
  const args = [...nodeOptions.split(/\s+/).filter(Boolean), ...execArgv];
  let value = 0;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    let text: string | undefined;
    if (arg.startsWith(`${FLAG}=`)) text = arg.slice(FLAG.length + 1);
    else if (arg === FLAG) text = args[i + 1];
    if (text !== undefined && /^\d+$/.test(text)) value = Number(text);
  }
  return value;
}

/**
 * Starts workers with a small young generation: `start` makes them (synchronously) while
 * the flag says WORKER_SEMI_SPACE_MB; the returned `started` is to be called once per worker
 * when it runs or fails to, and the last call sets the process's own value back. Isolates
 * made meanwhile by anyone else get the small value too, which only costs them scavenges.
 */
export function withSmallYoungGeneration<T>(
  count: number,
  start: () => T,
  setFlags: (flags: string) => void = setFlagsFromString,
  own: number = ownSemiSpaceMb(process.execArgv, process.env.NODE_OPTIONS),
): { result: T; started: () => void } {
  let left = count;
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    setFlags(`${FLAG}=${own}`);
  };
  setFlags(`${FLAG}=${WORKER_SEMI_SPACE_MB}`);
  let result: T;
  try {
    result = start();
  } catch (error) {
    restore();
    throw error;
  }
  if (left <= 0) restore();
  return {
    result,
    started: () => {
      if (--left <= 0) restore();
    },
  };
}
