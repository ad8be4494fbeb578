import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';

/** What the last push did, kept locally so `status` can say it without the network. */
export interface LastRun {
  operation: 'push';
  finished: string;
  ok: boolean;
  snapshotId?: string;
  files?: number;
  bytesUploaded?: number;
  warnings?: number;
  error?: { code: string; message: string };
  /**
   * When the last push that wrote a snapshot finished (this one, or an earlier one kept
   * across failures): what "last successful push" means.
   */
  lastSuccess?: string;
  /** The snapshot of that push. */
  lastSuccessSnapshotId?: string;
}

const FILE = 'last-push.json';

/** Saves the run; a run without a snapshot keeps the earlier run's `lastSuccess`. */
export async function saveLastRun(stateDir: string, run: LastRun): Promise<void> {
  let record = run;
  if (run.snapshotId) {
    record = { ...run, lastSuccess: run.finished, lastSuccessSnapshotId: run.snapshotId };
  } else {
    const previous = await loadLastRun(stateDir);
    if (previous?.lastSuccess)
      record = {
        ...run,
        lastSuccess: previous.lastSuccess,
        ...(previous.lastSuccessSnapshotId ? { lastSuccessSnapshotId: previous.lastSuccessSnapshotId } : {}),
      };
  }
  await writeFileAtomic(path.join(stateDir, FILE), JSON.stringify(record, null, 2));
}

export async function loadLastRun(stateDir: string): Promise<LastRun | undefined> {
  try {
    return JSON.parse(await fs.readFile(path.join(stateDir, FILE), 'utf8')) as LastRun;
  } catch {
    return undefined;
  }
}
