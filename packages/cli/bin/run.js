#!/usr/bin/env node
// `-v` is --verbose (as in restic) on every command; alone, with no command, it can only
// mean the version: `backupctl -v` prints it, as --version, -V and `backupctl version` do.
const argv = process.argv.slice(2);
if (argv.length === 1 && argv[0] === '-v') argv[0] = '--version';

// The root help (`backupctl`, `--help`, `-h`, `help`) printed without loading oclif: half the
// start-up time. dist/root-help/render.js says when it cannot (then oclif prints it).
let fast;
if (argv.length <= 1) {
  try {
    const [{ fastRootHelp }, { fileURLToPath }] = await Promise.all([
      import('../dist/root-help/render.js'),
      import('node:url'),
    ]);
    fast = fastRootHelp(argv, fileURLToPath(new URL('..', import.meta.url)));
  } catch {
    fast = undefined;
  }
}

// push, restore, check and prune on Linux with glibc: run once more with the memory
// settings that only act from a process's start (dist/launch/memory-tuning.js says which,
// and when not: BACKUPCTL_NO_MALLOC_TUNING=1, the user's own MALLOC_* values, help).
// (The same list as TUNED_COMMANDS there, checked by a test: other commands import nothing.)
const TUNED = ['push', 'restore', 'check', 'prune'];

// The commands that open the repository with the device's passphrase: its scrypt (~0.1 s)
// starts before oclif and the SDK load, on libuv's thread pool, and the open finds it done
// (@backupctl/core/key-warm-up says when it does nothing). Only in the process that runs
// the command, and never for help or a dry-run push (no repository access).
const OPENS_REPOSITORY = ['push', 'restore', 'check', 'prune', 'snapshots', 'ls', 'diff', 'dump', 'forget'];
let warmUp;
function warmUpKey() {
  if (warmUp !== undefined || !OPENS_REPOSITORY.includes(argv[0])) return;
  if (argv.includes('--help') || argv.includes('-h') || (argv[0] === 'push' && argv.includes('--dry-run')))
    return;
  warmUp = import('@backupctl/core/key-warm-up').then(
    (m) => m.warmUpRepositoryKey(),
    () => undefined,
  );
  return warmUp;
}

let relaunched = false;
if (
  fast === undefined &&
  process.platform === 'linux' &&
  (TUNED.includes(argv[0]) ||
    process.env.BACKUPCTL_TUNED_PARENT_FD !== undefined ||
    process.env.BACKUPCTL_TUNED_V8_FLAGS !== undefined)
) {
  try {
    const [tuning, { fileURLToPath }] = await Promise.all([
      import('../dist/launch/memory-tuning.js'),
      import('node:url'),
    ]);
    if (process.env[tuning.V8_FLAGS_ENV] !== undefined) {
      // The tuned process itself (a child, or this process after execve).
      await tuning.applyTunedFlags();
      await warmUpKey();
      if (process.env[tuning.PARENT_FD_ENV] !== undefined) await tuning.watchParent();
    } else {
      relaunched = await tuning.relaunchTuned(argv, fileURLToPath(import.meta.url));
    }
  } catch {
    relaunched = false;
  }
}

if (relaunched) {
  // The tuned child runs the command; this process ends as it ends.
} else if (fast !== undefined) {
  process.stdout.write(fast);
} else {
  await warmUpKey();
  // The AWS SDK warns on every run that its releases after early 2027 need Node >= 22.
  // backupctl supports Node >= 20 and is tested on 24 too; the notice belongs in the
  // README, not in every journal entry of an hourly timer. (The SDK's own switch.)
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // Node >= 22.1 keeps compiled code of the modules (oclif, the AWS SDK) in a cache on disk
  // (its own folder in the OS temporary folder; NODE_DISABLE_COMPILE_CACHE=1 turns it off).
  // On Node 20 the function does not exist: nothing happens.
  const { default: nodeModule } = await import('node:module');
  try {
    nodeModule.enableCompileCache?.();
  } catch {}
  // oclif checks on load that Node satisfies its own `engines` (>= 18) with the whole semver
  // package: ~60 ms of every start-up for a range backupctl's own (>= 20) is narrower than.
  // Its documented switch, for this import only (a command's children do not inherit it).
  const ownEngineCheck = process.env.OCLIF_DISABLE_ENGINE_WARNING === undefined;
  if (ownEngineCheck) process.env.OCLIF_DISABLE_ENGINE_WARNING = '1';
  const { flush, run } = await import('@oclif/core');
  if (ownEngineCheck) delete process.env.OCLIF_DISABLE_ENGINE_WARNING;
  try {
    await run(argv, import.meta.url);
    await flush();
  } catch (error) {
    // Commands print their own errors (BaseCommand.catch) and exit through oclif's ExitError;
    // what arrives here is oclif's own (an unknown command, `help nope`): the same style.
    const exit = error?.oclif?.exit;
    if (error?.code === 'EEXIT' || exit === 0) {
      process.exitCode = exit ?? 0;
    } else {
      const { printError } = await import('../dist/render/errors.js');
      process.exitCode = printError(error, process.argv.includes('--json'));
    }
  }
}
