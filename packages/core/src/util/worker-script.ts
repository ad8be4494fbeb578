import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * A compiled worker script: `beside` the module asking for it (in dist/), or `inDist` when
 * that module runs from src/ (the tests), where only dist/ has the compiled worker.
 */
export function compiledWorker(beside: URL, inDist: URL): URL {
  return existsSync(fileURLToPath(beside)) ? beside : inDist;
}

/** Whether a worker script is there to start (a build has run). */
export function workerExists(script: URL): boolean {
  return existsSync(fileURLToPath(script));
}
