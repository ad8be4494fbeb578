import { readFile } from 'node:fs/promises';
import {
  BackupctlError,
  COMPRESSION_MODES,
  type CompressionMode,
  ErrorCodes,
  errorMessage,
  normaliseRoots,
  parseExcludeFile,
  planPush,
  push,
  saveLastRun,
} from '@backupctl/core';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { ExitCodes } from '../exit-codes.js';
import { formatBytes, formatDuration, printable } from '../render/format.js';
import { notifyOwner } from '../render/notify.js';
import { ProgressReporter } from '../render/progress.js';

export default class Push extends BaseCommand {
  static override summary = 'Back up paths into a new snapshot.';
  static override description =
    `Only changed content is read and uploaded: unchanged files are recognised by size, mtime, ctime and inode, and content already in the repository is not stored again.

Exit codes: 0 done; 3 snapshot written but some files could not be read; 11 another push is running; 20 this device has been quarantined (see \`backupctl status\`). All codes: docs/exit-codes.md.`;
  static override examples = [
    '<%= config.bin %> push',
    '<%= config.bin %> push ~/Documents ~/Pictures --exclude "*.tmp" --exclude node_modules',
    '<%= config.bin %> push --json',
    '<%= config.bin %> push --dry-run --exclude-file ~/.config/backupctl/excludes --exclude-caches',
    '<%= config.bin %> push ~/Videos --compression off',
  ];
  static override strict = false;
  static override args = {
    paths: Args.string({ description: 'Paths to back up (default: the configured ones).' }),
  };
  static override flags = {
    exclude: Flags.string({
      description: 'Glob to exclude (repeatable), added to the configured ones.',
      multiple: true,
      multipleNonGreedy: true,
      default: [],
    }),
    tag: Flags.string({
      description: 'Tag for the snapshot (repeatable).',
      multiple: true,
      multipleNonGreedy: true,
      default: [],
    }),
    'exclude-file': Flags.string({
      description: 'File of exclude patterns, one a line (# comments), same rules as --exclude (repeatable).',
      multiple: true,
      multipleNonGreedy: true,
      default: [],
    }),
    'exclude-caches': Flags.boolean({
      description: 'Skip folders holding a CACHEDIR.TAG with the standard signature.',
      default: false,
    }),
    'one-file-system': Flags.boolean({
      description: 'Do not cross into other file systems (mounts) below the given paths.',
      default: false,
    }),
    'dry-run': Flags.boolean({
      description:
        'Walk the paths with the same rules and report what would be backed up; no repository access.',
      default: false,
    }),
    compression: Flags.string({
      description:
        'zstd compression of new data and metadata: auto (fast, the default), max (smaller, slower) or off. Data that does not shrink is stored as it is; a format version 1 repository is never compressed.',
      options: [...COMPRESSION_MODES],
      default: 'auto',
    }),
  };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(Push);
    const env = this.environment();
    const config = await this.deviceConfig(env);
    const paths = (argv as string[]).length > 0 ? (argv as string[]) : config.paths;
    if (paths.length === 0) {
      throw new BackupctlError(ErrorCodes.usage, 'nothing to back up: no paths given and none configured', {
        resolution:
          'Give paths (`backupctl push ~/Documents`) or configure them with `backupctl init --path`.',
      });
    }
    const excludes = [...config.excludes, ...flags.exclude];
    for (const file of flags['exclude-file']) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        throw new BackupctlError(ErrorCodes.usage, `--exclude-file ${file}: ${(error as Error).message}`, {
          resolution: 'Give a readable file with one pattern a line.',
        });
      }
      excludes.push(...parseExcludeFile(text));
    }
    const walk = {
      excludes,
      excludeCaches: flags['exclude-caches'],
      oneFileSystem: flags['one-file-system'],
    };
    if (flags['dry-run']) {
      const plan = await planPush(normaliseRoots(paths), walk);
      if (this.jsonMode) return this.printJson({ dryRun: true, paths: normaliseRoots(paths), ...plan });
      const x = plan.excluded;
      this.say(
        `would back up ${plan.files} files, ${plan.dirs} folders, ${plan.symlinks} symlinks, ${formatBytes(plan.bytes)} (before deduplication)`,
      );
      this.say(
        `  left out: ${x.pattern} by patterns, ${x['ignore-file']} by .backupctlignore, ${x['cache-dir']} cache folders, ${x['other-file-system']} other file systems`,
      );
      if (plan.unreadable.length > 0) this.say(`  ${plan.unreadable.length} path(s) cannot be read`);
      return;
    }
    const progress = ProgressReporter.for('push', {
      json: this.jsonMode,
      quiet: this.quiet,
      journal: this.journal,
    });
    let lastPath: string | undefined;
    try {
      const result = await this.withRepository(
        (session) =>
          push(
            session.repo,
            session.cache,
            {
              paths,
              ...walk,
              host: env.host,
              tags: flags.tag,
              compression: flags.compression as CompressionMode,
              scanTotals: progress.wantsTotals,
            },
            {
              onProgress:
                progress.active || this.verbose
                  ? (p) => {
                      if (this.verbose && p.currentPath && p.currentPath !== lastPath) {
                        lastPath = p.currentPath;
                        progress.stop();
                        this.detail(`  ${printable(p.currentPath)}`);
                      }
                      progress.update(p);
                    }
                  : undefined,
              onWarning: (w) => {
                if (this.jsonMode) return;
                progress.stop();
                process.stderr.write(
                  `${this.journal ? '<4>' : ''}warning: ${printable(w.path)}: ${w.message}\n`,
                );
              },
              onRecovered: (r) =>
                this.note(
                  `Recovered ${r.packs} pack(s) of an interrupted push (${r.blobs} blobs): not uploaded again.`,
                ),
            },
          ),
        env,
        config,
      );
      progress.stop();
      try {
        await saveLastRun(env.cacheDir, {
          operation: 'push',
          finished: new Date().toISOString(),
          ok: result.warnings.length === 0,
          snapshotId: result.snapshotId,
          files: result.snapshot.summary.files,
          bytesUploaded: result.snapshot.summary.bytesUploaded,
          warnings: result.warnings.length,
        });
      } catch (error) {
        result.cacheWarnings.push(
          `the record of this run could not be saved (${errorMessage(error)}): \`backupctl status\` shows the previous run`,
        );
      }
      // After the commit point: say what was saved, and what local bookkeeping was not.
      for (const note of result.cacheWarnings) {
        if (!this.jsonMode)
          process.stderr.write(`warning: snapshot ${result.snapshotId.slice(0, 8)} was saved, but ${note}\n`);
      }
      const s = result.snapshot.summary;
      if (this.jsonMode) {
        this.printJson({
          snapshotId: result.snapshotId,
          time: result.snapshot.time,
          paths: result.snapshot.paths,
          summary: s,
          recoveredPacks: result.recoveredPacks,
          durationMs: result.durationMs,
          warnings: result.warnings,
          cacheWarnings: result.cacheWarnings,
        });
      } else if (this.journal) {
        // Under a timer: one summary line (journalctl shows one entry per run).
        const unread =
          result.warnings.length > 0 ? `; ${result.warnings.length} path(s) could not be read` : '';
        this.note(
          `${result.warnings.length > 0 ? '<4>' : ''}snapshot ${result.snapshotId.slice(0, 8)} saved: ${s.files} files, ${formatBytes(s.bytes)} scanned, ${formatBytes(s.newBytes)} new, uploaded ${formatBytes(s.bytesUploaded)} in ${s.packsWritten} packs, ${formatDuration(result.durationMs)}${unread}`,
        );
      } else {
        this.note(`snapshot ${result.snapshotId.slice(0, 8)} saved`);
        this.note(
          `  ${s.files} files, ${s.dirs} folders, ${formatBytes(s.bytes)} scanned; ${s.newBytes === 0 ? 'nothing changed' : `${formatBytes(s.newBytes)} new in ${s.newBlobs} chunks`}`,
        );
        this.note(
          `  uploaded ${formatBytes(s.bytesUploaded)} in ${s.packsWritten} packs, ${formatDuration(result.durationMs)}`,
        );
        if (result.warnings.length > 0)
          this.say(`  ${result.warnings.length} path(s) could not be read (see warnings)`);
      }
      if (result.warnings.length > 0) this.exit(ExitCodes.partial);
    } catch (error) {
      progress.stop();
      if (BackupctlError.is(error)) {
        await saveLastRun(env.cacheDir, {
          operation: 'push',
          finished: new Date().toISOString(),
          ok: false,
          error: { code: error.code, message: error.message },
        }).catch(() => undefined);
        if (error.code === ErrorCodes.quarantined) {
          await notifyOwner(
            'backupctl: this device is quarantined',
            `${error.message} Run \`backupctl status\` for the recovery steps.`,
            { desktop: env.desktop, journal: env.journal },
          );
        }
      }
      throw error;
    }
  }
}
