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
}

const FILE = 'last-push.json';

export async function saveLastRun(stateDir: string, run: LastRun): Promise<void> {
  await writeFileAtomic(path.join(stateDir, FILE), JSON.stringify(run, null, 2));
}

export async function loadLastRun(stateDir: string): Promise<LastRun | undefined> {
  try {
    return JSON.parse(await fs.readFile(path.join(stateDir, FILE), 'utf8')) as LastRun;
  } catch {
    return undefined;
  }
}
