import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, CLI_DIR, type Device, makeDevice } from './support/cli.js';

const execFileAsync = promisify(execFile);
type ProgressModule = typeof import('../src/render/progress.js');
let p: ProgressModule;
beforeAll(async () => {
  p = (await import(
    pathToFileURL(path.join(CLI_DIR, 'dist', 'render', 'progress.js')).href
  )) as ProgressModule;
});

const sample = (over: Partial<import('../src/render/progress.js').PushSample>) => ({
  filesDone: 0,
  bytesDone: 0,
  filesTotal: 0,
  bytesTotal: 0,
  scanDone: false,
  filesUnchanged: 0,
  bytesUnchanged: 0,
  bytesUploaded: 0,
  ...over,
});

describe('progress lines', () => {
  it('while the scanner still counts: no percentage, no bar, no "done/total" (the archiver may be ahead)', () => {
    const line = p.pushLine(
      sample({ filesDone: 2114, filesTotal: 1062, bytesDone: 5e8, bytesTotal: 3e8 }),
      5000,
    );
    expect(line).not.toMatch(/%|\[|2114\/1062/);
    expect(line).toMatch(/^2114 files, 477 MiB \(counting…\)$/);
  });

  it('an unchanged re-push shows unchanged counts, never a full bar', () => {
    const line = p.pushLine(
      sample({
        scanDone: true,
        filesDone: 900,
        filesTotal: 1062,
        filesUnchanged: 900,
        bytesDone: 8e8,
        bytesTotal: 9e8,
        bytesUnchanged: 8e8,
      }),
      1000,
    );
    // 100 MB not looked at yet may still need reading, but nothing was read so far: counts,
    // no bar and no percentage (the walk may meet unchanged files after the scan counted them).
    expect(line).toBe('900/1062 files, 900 unchanged');
    const done = p.pushLine(
      sample({
        scanDone: true,
        filesDone: 1062,
        filesTotal: 1062,
        filesUnchanged: 1062,
        bytesDone: 9e8,
        bytesTotal: 9e8,
        bytesUnchanged: 9e8,
      }),
      1000,
    );
    expect(done).not.toMatch(/%|\[/);
  });

  it('the bar measures what has to be read: unchanged files leave both sides', () => {
    const mib = 1024 * 1024;
    // 100 MiB in all, 60 unchanged, 20 of the other 40 read: half way.
    const line = p.pushLine(
      sample({
        scanDone: true,
        filesDone: 50,
        filesTotal: 100,
        filesUnchanged: 40,
        bytesDone: 80 * mib,
        bytesTotal: 100 * mib,
        bytesUnchanged: 60 * mib,
        bytesUploaded: 20 * mib,
      }),
      2000,
    );
    expect(line).toMatch(/^\[#+\.+\] {2}50% 50\/100 files 20\.0\/40\.0 MiB up 10 MiB\/s ETA 2s$/);
  });

  it('fits the width with huge numbers, and rounds rates', () => {
    const line = p.pushLine(
      sample({
        scanDone: true,
        filesDone: 12_345_678,
        filesTotal: 98_765_432,
        bytesDone: 3.3e14,
        bytesTotal: 9.9e14,
        bytesUploaded: 1.2e14,
      }),
      3_600_000,
    );
    expect(line.length).toBeLessThanOrEqual(79);
    expect(
      p.pushLine(sample({ scanDone: true, filesTotal: 1, bytesTotal: 1 }), 0, 40).length,
    ).toBeLessThanOrEqual(40);
    expect(p.roundRate(3.456 * 1024 * 1024)).toBe('3.5 MiB/s');
    expect(p.roundRate(12.7 * 1024 * 1024)).toBe('13 MiB/s');
    expect(p.roundBytes(123.456 * 1024)).toBe('123 KiB');
  });

  it('check counts packs, not bytes', () => {
    expect(p.countLine('check', { done: 3, total: 12, unit: 'packs' })).toMatch(
      /^check \[#+\.+\] {2}25% 3\/12 packs$/,
    );
  });
});

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      accessSync(path.join(dir, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Every frame a terminal was sent, escape sequences removed: the text after each \r or \n. */
function frames(raw: string): string[] {
  return raw
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    .split(/\r|\n/)
    .map((f) => f.trimEnd())
    .filter((f) => f !== '');
}

describe.skipIf(!onPath('tmux'))('the progress bar in a real terminal (tmux, 80 columns)', () => {
  let device: Device;
  const socket = `backupctl-test-${process.pid}`;
  const tmux = (...args: string[]) => execFileAsync('tmux', ['-L', socket, ...args]);
  beforeAll(async () => {
    device = await makeDevice();
    const data = path.join(device.dir, 'data');
    await mkdir(data);
    for (let i = 0; i < 800; i++) await writeFile(path.join(data, `small-${i}`), `file ${i}\n`);
    await writeFile(
      path.join(data, 'big'),
      Buffer.alloc(24 * 1024 * 1024, 7).map((_, i) => (i * 2654435761) >>> 24),
    );
    expect(
      (await device.run(['init', '--repo', path.join(device.dir, 'repo'), '--path', data, '--no-keychain']))
        .code,
    ).toBe(0);
    await tmux('new-session', '-d', '-x', '80', '-y', '30', '-s', 't', 'sh');
  });
  afterAll(async () => {
    await tmux('kill-server').catch(() => undefined);
    await device.remove();
  });

  /** Runs push in the tmux pane; returns every frame drawn and the screen at the end. */
  async function pushInTerminal(run: string): Promise<{ frames: string[]; screen: string[] }> {
    const raw = path.join(device.dir, `raw-${run}`);
    await writeFile(raw, '');
    await tmux('pipe-pane', '-t', 't', '-o', `cat >> '${raw}'`);
    await tmux('send-keys', '-t', 't', 'clear', 'Enter');
    const env = Object.entries(device.env)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}='${v}'`)
      .join(' ');
    await tmux(
      'send-keys',
      '-t',
      't',
      `${env} '${process.execPath}' '${BIN}' push; echo "END-$?-${run}"`,
      'Enter',
    );
    let screen: string[] = [];
    for (let i = 0; i < 600; i++) {
      const { stdout } = await tmux('capture-pane', '-p', '-t', 't');
      screen = stdout.split('\n');
      if (screen.some((l) => l.startsWith(`END-`) && l.endsWith(`-${run}`))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await tmux('pipe-pane', '-t', 't');
    return { frames: frames(await readFile(raw, 'utf8')), screen };
  }

  it('first push: scan then upload, each frame within 80 columns, totals never exceeded, cleared at the end', async () => {
    const first = await pushInTerminal('first');
    expect(first.screen).toContain('END-0-first');
    const progress = first.frames.filter((f) => f.startsWith('push '));
    expect(progress.length).toBeGreaterThan(0);
    for (const f of progress) {
      expect([...f].length, f).toBeLessThanOrEqual(80);
      if (f.includes('counting')) expect(f).not.toMatch(/%/);
      const counts = /(\d+)\/(\d+) files/.exec(f);
      if (counts) expect(Number(counts[1]), f).toBeLessThanOrEqual(Number(counts[2]));
    }
    // The bar is gone from the screen; the summary stands alone, unwrapped.
    const after = first.screen.slice(first.screen.findIndex((l) => l.startsWith('snapshot ')));
    expect(after[0]).toMatch(/^snapshot [0-9a-f]{8} saved$/);
    expect(first.screen.some((l) => l.includes('push ['))).toBe(false);
    for (const l of first.screen) expect([...l].length).toBeLessThanOrEqual(80);
  });

  it('an unchanged re-push: no bar, no percentage, "nothing changed"', async () => {
    const again = await pushInTerminal('again');
    expect(again.screen).toContain('END-0-again');
    const progress = again.frames.filter((f) => f.startsWith('push '));
    expect(progress.length).toBeGreaterThan(0);
    for (const f of progress) expect(f).not.toMatch(/%|\[#|\[\./);
    expect(again.screen.join('\n')).toMatch(/scanned; nothing changed/);
  });
});
