import { BackupctlError, ErrorCodes, push, saveLastRun } from '@backupctl/core';
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
  ];
  static override strict = false;
  static override args = {
    paths: Args.string({ description: 'Paths to back up (default: the configured ones).' }),
  };
  static override flags = {
    exclude: Flags.string({
      description: 'Glob to exclude (repeatable), added to the configured ones.',
      multiple: true,
      default: [],
    }),
    tag: Flags.string({ description: 'Tag for the snapshot (repeatable).', multiple: true, default: [] }),
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
              excludes: [...config.excludes, ...flags.exclude],
              host: env.host,
              tags: flags.tag,
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
      );
      progress.stop();
      await saveLastRun(env.cacheDir, {
        operation: 'push',
        finished: new Date().toISOString(),
        ok: result.warnings.length === 0,
        snapshotId: result.snapshotId,
        files: result.snapshot.summary.files,
        bytesUploaded: result.snapshot.summary.bytesUploaded,
        warnings: result.warnings.length,
      });
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
