/**
 * Using the SDK directly: back up a folder into a local repository, list snapshots,
 * restore the latest. Compiled in CI against the public API of @backupctl/core only.
 *
 *   node examples/dist/sdk-backup.js <folder-to-back-up> <repository-folder> <restore-target>
 */
import { LocalBackend, listSnapshots, push, RepoCache, Repository, restore } from '@backupctl/core';

async function main(): Promise<void> {
  const [source, repoDir, target] = process.argv.slice(2);
  if (!source || !repoDir || !target) {
    console.error('usage: sdk-backup <source> <repository> <target>');
    process.exit(2);
  }
  const password = process.env.BACKUPCTL_PASSWORD ?? 'example-only-passphrase';
  const backend = new LocalBackend(repoDir);
  const repo = await Repository.init(backend, password, { host: 'example' }).catch(() =>
    Repository.open(backend, password),
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
