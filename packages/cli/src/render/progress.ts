import { formatDuration } from './format.js';

/** What push reports (core's PushProgress, the fields the display needs). */
export interface PushSample {
  filesDone: number;
  bytesDone: number;
  filesTotal: number;
  bytesTotal: number;
  scanDone: boolean;
  filesUnchanged?: number;
  bytesUnchanged?: number;
  bytesUploaded: number;
}

/** A count of things (check's packs, restore's files). */
export interface CountSample {
  done: number;
  total: number;
  unit: string;
}

/** Bytes, rounded for a progress line: 3 significant digits at most ("1.23 GiB", "512 MiB"). */
export function roundBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const text = unit === 0 || value >= 100 ? Math.round(value).toString() : value.toFixed(value >= 10 ? 1 : 2);
  return `${text} ${units[unit]}`;
}

/** A rate, rounded to whole units or one decimal: "12 MiB/s", "3.5 MiB/s". */
export function roundRate(bytesPerSecond: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = Math.max(0, bytesPerSecond);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 10 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}/s`;
}

/** "47.2/95.4 MiB", or "512 KiB/1.20 GiB" when the units differ. */
function bytePair(done: number, total: number): string {
  const [d, du] = roundBytes(done).split(' ');
  const [t, tu] = roundBytes(total).split(' ');
  return du === tu ? `${d}/${t} ${tu}` : `${d} ${du}/${t} ${tu}`;
}

function bar(fraction: number, width: number): string {
  const filled = Math.max(0, Math.min(width, Math.floor(fraction * width)));
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

function fit(line: string, width: number): string {
  return line.length <= width ? line : `${line.slice(0, Math.max(0, width - 1))}…`;
}

/**
 * One line of push progress, at most `width` columns. Two phases, shown apart:
 * - while the scanner still counts (totals not final): what was found and what was done,
 *   no percentage and no bar (a total still growing is no total);
 * - then a bar over the content that has to be *read*: unchanged files leave both sides of
 *   the fraction, so an unchanged re-push shows "unchanged" counts, never a full bar;
 *   and no bar before the first byte is read: the walk may meet the unchanged files after
 *   the scanner has counted them all, and a bar at 0% over them would be a false alarm.
 */
export function pushLine(s: PushSample, elapsedMs: number, width = 79): string {
  const unchanged = s.filesUnchanged ?? 0;
  const uploadRate = elapsedMs > 0 ? (s.bytesUploaded * 1000) / elapsedMs : 0;
  const up = s.bytesUploaded > 0 ? ` up ${roundRate(uploadRate)}` : '';
  if (!s.scanDone) {
    // The scanner may be behind the archiver: no totals, no percentage until it is done.
    const same = unchanged > 0 ? ` (${unchanged} unchanged)` : '';
    return fit(`${s.filesDone} files${same}, ${roundBytes(s.bytesDone)}${up} (counting…)`, width);
  }
  const toRead = s.bytesTotal - (s.bytesUnchanged ?? 0);
  const read = s.bytesDone - (s.bytesUnchanged ?? 0);
  const files = `${s.filesDone}/${s.filesTotal} files`;
  if (toRead <= 0 || read <= 0) {
    return fit(`${files}, ${unchanged} unchanged${up}`, width);
  }
  const fraction = Math.min(1, Math.max(0, read / toRead));
  const readRate = elapsedMs > 0 ? (read * 1000) / elapsedMs : 0;
  const eta =
    readRate > 0 && fraction < 1 ? ` ETA ${formatDuration(((toRead - read) / readRate) * 1000)}` : '';
  const pct = `${Math.floor(fraction * 100)}%`.padStart(4);
  const text = ` ${pct} ${files} ${bytePair(read, toRead)}${up}${eta}`;
  const barWidth = Math.max(10, Math.min(30, width - text.length - 2));
  return fit(`${bar(fraction, barWidth)}${text}`, width);
}

/** One line of counted progress: `check [####......]  3/10 packs`. */
export function countLine(label: string, s: CountSample, width = 79): string {
  const fraction = s.total > 0 ? s.done / s.total : 0;
  const text = ` ${`${Math.floor(fraction * 100)}%`.padStart(4)} ${s.done}/${s.total} ${s.unit}`;
  return fit(
    `${label} ${bar(fraction, Math.max(10, Math.min(30, width - text.length - label.length - 3)))}${text}`,
    width,
  );
}

/** Plain progress for logs and the journal: no bar, no control characters. */
export function plainPushLine(label: string, s: PushSample, elapsedMs: number): string {
  const unchanged = s.filesUnchanged ?? 0;
  const totals = s.scanDone ? `/${s.filesTotal}` : '';
  return `${label}: ${s.filesDone}${totals} files (${unchanged} unchanged), ${roundBytes(s.bytesDone)} scanned, ${roundBytes(s.bytesUploaded)} uploaded, ${formatDuration(elapsedMs)}`;
}

/**
 * Progress for long work: one redrawn line on a terminal (stderr), plain lines every
 * `intervalMs` elsewhere (the journal), nothing in --json or --quiet mode.
 */
export class ProgressReporter {
  private readonly started = Date.now();
  private lastDraw = 0;
  private lastLine: number;
  private drawn = false;
  private pending: string | undefined;

  constructor(
    private readonly label: string,
    private readonly mode: 'tty' | 'lines' | 'off',
    private readonly intervalMs = 10_000,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.lastLine = Date.now();
  }

  static for(
    label: string,
    options: boolean | { json: boolean; quiet?: boolean; journal?: boolean },
  ): ProgressReporter {
    if (typeof options === 'boolean')
      options = { json: options, journal: Boolean(process.env.JOURNAL_STREAM) };
    const mode =
      options.json || options.quiet ? 'off' : process.stderr.isTTY && !options.journal ? 'tty' : 'lines';
    return new ProgressReporter(label, mode, options.journal ? 60_000 : 10_000);
  }

  /** Totals (and so a bar and an ETA) are worth a second scan only on a terminal someone watches. */
  get wantsTotals(): boolean {
    return this.mode === 'tty';
  }

  get active(): boolean {
    return this.mode !== 'off';
  }

  private width(): number {
    return Math.min(79, Math.max(20, (this.stream.columns ?? 80) - 1));
  }

  private draw(line: string, force = false): void {
    const now = Date.now();
    this.pending = line;
    // The first frame at once; then at most five a second.
    if (!force && this.drawn && now - this.lastDraw < 200) return;
    this.lastDraw = now;
    this.drawn = true;
    this.stream.write(`\r${line}\x1b[K`);
    this.pending = undefined;
  }

  /** Push progress; or restore's (its totals are known from the start: no scan phase). */
  update(
    progress: PushSample | { filesDone: number; filesTotal: number; bytesDone: number; bytesTotal: number },
  ): void {
    const sample: PushSample =
      'scanDone' in progress ? progress : { ...progress, scanDone: true, bytesUploaded: 0 };
    const elapsed = Date.now() - this.started;
    if (this.mode === 'tty')
      this.draw(`${this.label} ${pushLine(sample, elapsed, this.width() - this.label.length - 1)}`);
    else if (this.mode === 'lines') this.plain(() => plainPushLine(this.label, sample, elapsed));
  }

  count(sample: CountSample): void {
    if (this.mode === 'tty') this.draw(countLine(this.label, sample, this.width()));
    else if (this.mode === 'lines')
      this.plain(() => `${this.label}: ${sample.done}/${sample.total} ${sample.unit}`);
  }

  private plain(line: () => string): void {
    const now = Date.now();
    if (now - this.lastLine < this.intervalMs) return;
    this.lastLine = now;
    this.stream.write(`${line()}\n`);
  }

  /** Draws the last state, then clears the line: the summary that follows stands alone. */
  stop(): void {
    if (this.mode !== 'tty' || !this.drawn) return;
    if (this.pending) this.draw(this.pending, true);
    this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}
