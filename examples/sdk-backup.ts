/**
 * Using the SDK directly: back up a folder into a local repository, list snapshots,
 * restore the latest. Compiled in CI against the public API of @backupctl/core only.
 *
 *   node examples/dist/sdk-backup.js <folder-to-back-up> <repository-folder> <restore-target>
 */
import {
  BackupctlError,
  ErrorCodes,
  LocalBackend,
  listSnapshots,
  push,
  RepoCache,
  Repository,
  restore,
} from '@backupctl/core';

async function main(): Promise<void> {
  const [source, repoDir, target] = process.argv.slice(2);
  if (!source || !repoDir || !target) {
    console.error('usage: sdk-backup <source> <repository> <target>');
    process.exit(2);
  }
  const password = process.env.BACKUPCTL_PASSWORD ?? 'example-only-passphrase';
  const backend = new LocalBackend(repoDir);
  // Open the repository if there is one; create it otherwise. Any other error stops here.
  const repo = await Repository.readConfig(backend).then(
    () => Repository.open(backend, password),
    (error: unknown) => {
      if (BackupctlError.is(error) && error.code === ErrorCodes.repoNotFound) {
        return Repository.init(backend, password, { host: 'example' });
      }
      throw error;
    },
  );
  const cache = new RepoCache(`${repoDir}.cache`, repo.config.id);
  const result = await push(
    repo,
    cache,
    { paths: [source], host: 'example' },
    {
      onProgress: (p) => process.stderr.write(`\r${p.filesDone}/${p.filesTotal} files`),
    },
  );
  console.log(`\nsnapshot ${result.snapshotId.slice(0, 8)}: ${result.snapshot.summary.newBytes} new bytes`);
  for (const s of await listSnapshots(repo, cache)) console.log(s.shortId, s.time, s.paths.join(' '));
  const restored = await restore(repo, cache, { snapshot: 'latest', target });
  console.log(`restored ${restored.files} files to ${restored.target}`);
}

await main();
