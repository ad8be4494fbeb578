/**
 * The SDK without the CLI: back up a folder into a local repository, list the snapshots,
 * restore the latest — with the progress events of push and restore. It uses only the
 * public API of @backupctl/core (compiled in CI, run by test/sdk-example.test.ts).
 *
 *   BACKUPCTL_PASSWORD='…' node examples/dist/sdk/backup-and-restore.js <folder> <repository> <restore-target>
 *
 * The SDK prints nothing: everything on screen here is this program's choice.
 */
import {
  BackupctlError,
  ErrorCodes,
  LocalBackend,
  listSnapshots,
  type PushProgress,
  push,
  RepoCache,
  Repository,
  type RestoreProgress,
  restore,
} from '@backupctl/core';

async function openOrCreate(backend: LocalBackend, password: string): Promise<Repository> {
  try {
    await Repository.readConfig(backend);
  } catch (error) {
    // Only "no repository here" means create one; anything else (a wrong passphrase
    // comes later, from open) stops the program.
    if (BackupctlError.is(error) && error.code === ErrorCodes.repoNotFound) {
      return Repository.init(backend, password, { host: 'sdk-example' });
    }
    throw error;
  }
  return Repository.open(backend, password);
}

async function main(): Promise<number> {
  const [source, repoDir, target] = process.argv.slice(2);
  if (!source || !repoDir || !target) {
    console.error('usage: backup-and-restore <folder> <repository> <restore-target>');
    return 2;
  }
  const password = process.env.BACKUPCTL_PASSWORD;
  if (!password) {
    console.error('set BACKUPCTL_PASSWORD to the repository passphrase');
    return 2;
  }
  const repo = await openOrCreate(new LocalBackend(repoDir), password);
  const cache = new RepoCache(`${repoDir}.cache`, repo.config.id);

  // Progress: the scan phase (totals still growing) and the read phase, told apart by scanDone.
  let lastPhase = '';
  const onPushProgress = (p: PushProgress) => {
    const phase = p.scanDone ? 'reading' : 'scanning';
    if (phase !== lastPhase) console.log(`push: ${phase}`);
    lastPhase = phase;
  };
  const pushed = await push(
    repo,
    cache,
    { paths: [source], host: 'sdk-example' },
    { onProgress: onPushProgress },
  );
  const s = pushed.snapshot.summary;
  console.log(`push: snapshot ${pushed.snapshotId.slice(0, 8)}, ${s.files} files, ${s.newBytes} new bytes`);
  for (const w of pushed.warnings) console.log(`push: could not read ${w.path}: ${w.message}`);

  for (const snap of await listSnapshots(repo, cache))
    console.log(`snapshot ${snap.shortId} ${snap.time} ${snap.paths.join(' ')}`);

  let lastFiles = -1;
  const onRestoreProgress = (p: RestoreProgress) => {
    if (p.filesDone !== lastFiles && p.filesDone === p.filesTotal)
      console.log(`restore: ${p.filesDone}/${p.filesTotal} files`);
    lastFiles = p.filesDone;
  };
  const restored = await restore(
    repo,
    cache,
    { snapshot: 'latest', target },
    { onProgress: onRestoreProgress },
  );
  console.log(`restore: ${restored.files} files to ${restored.target}`);
  return pushed.warnings.length > 0 ? 3 : 0;
}

process.exitCode = await main().catch((error: unknown) => {
  // Typed errors carry a stable code and a next step.
  if (BackupctlError.is(error)) {
    console.error(
      `error: ${error.message} (${error.code})${error.resolution ? `\n  next: ${error.resolution}` : ''}`,
    );
  } else console.error(error);
  return 1;
});
