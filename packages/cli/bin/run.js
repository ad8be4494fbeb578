#!/usr/bin/env node
import { flush, run } from '@oclif/core';

// The AWS SDK warns on every run that its releases after early 2027 need Node >= 22.
// backupctl supports Node >= 20 and is tested on 24 too; the notice belongs in the
// README, not in every journal entry of an hourly timer. (The SDK's own switch.)
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// `-v` is --verbose (as in restic) on every command; alone, with no command, it can only
// mean the version: `backupctl -v` prints it, as --version, -V and `backupctl version` do.
const argv = process.argv.slice(2);
if (argv.length === 1 && argv[0] === '-v') argv[0] = '--version';
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
