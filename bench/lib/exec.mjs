// Runs a command under GNU time (`/usr/bin/time -v`) for its peak RSS and CPU times; the
// wall time is measured here around the whole process.
import { spawn } from 'node:child_process';
import { existsSync, promises as fs, mkdirSync } from 'node:fs';
import path from 'node:path';

export const GNU_TIME = '/usr/bin/time';

export async function timed(cmd, args, { env, cwd, timeoutMs = 90 * 60_000, tmpDir, label = cmd } = {}) {
  if (!existsSync(GNU_TIME)) throw new Error('GNU time is missing: apt-get install -y time');
  // Outside the backed-up folders' parents, so that no folder mtime changes between runs.
  const dir = path.join(tmpDir, '.time');
  mkdirSync(dir, { recursive: true });
  const timeFile = path.join(dir, `time-${process.hrtime.bigint()}.txt`);
  const started = process.hrtime.bigint();
  const child = spawn(GNU_TIME, ['-v', '-o', timeFile, cmd, ...args], {
    env,
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 1_000_000) stderr = stderr.slice(-500_000);
  });
  const timer = setTimeout(() => {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {}
  }, timeoutMs);
  const code = await new Promise((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  let text = '';
  try {
    text = await fs.readFile(timeFile, 'utf8');
    await fs.rm(timeFile, { force: true });
  } catch {}
  const num = (re) => {
    const m = re.exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const result = {
    code,
    wallS,
    userS: num(/User time \(seconds\): ([\d.]+)/),
    sysS: num(/System time \(seconds\): ([\d.]+)/),
    maxRssMiB: (num(/Maximum resident set size \(kbytes\): (\d+)/) ?? 0) / 1024,
    stdout,
    stderr,
  };
  if (code !== 0) {
    const err = new Error(`${label} exited with ${code}: ${stderr.slice(-2000) || stdout.slice(-2000)}`);
    err.result = result;
    throw err;
  }
  return result;
}

export function capture(cmd, args, env) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('error', () => resolve(''));
    child.on('close', () => resolve(out.trim()));
  });
}
