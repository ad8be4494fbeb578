import cliProgress from 'cli-progress';
import { formatBytes, formatDuration } from './format.js';

export interface ProgressSample {
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

/**
 * Progress for long work: a live bar on a terminal (files, bytes, rate, ETA); plain lines
 * every `intervalMs` elsewhere, fit for the journal; nothing in --json mode.
 */
export class ProgressReporter {
  private bar: cliProgress.SingleBar | undefined;
  private readonly started = Date.now();
  private lastLine = Date.now();
  private last: ProgressSample | undefined;

  constructor(
    private readonly label: string,
    private readonly mode: 'tty' | 'lines' | 'off',
    private readonly intervalMs = 10_000,
  ) {}

  static for(label: string, json: boolean): ProgressReporter {
    return new ProgressReporter(label, json ? 'off' : process.stderr.isTTY ? 'tty' : 'lines');
  }

  /** Totals (and so an ETA) are worth a second scan only on a terminal someone watches. */
  get wantsTotals(): boolean {
    return this.mode === 'tty';
  }

  get active(): boolean {
    return this.mode !== 'off';
  }

  update(sample: ProgressSample): void {
    this.last = sample;
    if (this.mode === 'off') return;
    const elapsed = (Date.now() - this.started) / 1000;
    const rate = elapsed > 0 ? sample.bytesDone / elapsed : 0;
    const eta = rate > 0 ? ((sample.bytesTotal - sample.bytesDone) / rate) * 1000 : 0;
    const totals = sample.bytesTotal > 0 || sample.filesTotal > 0;
    const payload = {
      files: totals ? `${sample.filesDone}/${sample.filesTotal}` : `${sample.filesDone}`,
      bytes: totals
        ? `${formatBytes(sample.bytesDone)}/${formatBytes(sample.bytesTotal)}`
        : formatBytes(sample.bytesDone),
      rate: `${formatBytes(rate)}/s`,
      etaText: sample.bytesTotal > sample.bytesDone ? formatDuration(eta) : '0s',
    };
    if (this.mode === 'tty') {
      if (!this.bar) {
        this.bar = new cliProgress.SingleBar(
          {
            stream: process.stderr,
            format: `${this.label} [{bar}] {percentage}% | {files} files | {bytes} | {rate} | ETA {etaText}`,
            hideCursor: true,
            clearOnComplete: true,
            fps: 5,
          },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(Math.max(1, sample.bytesTotal), sample.bytesDone, payload);
      }
      this.bar.setTotal(Math.max(1, sample.bytesTotal));
      this.bar.update(Math.min(sample.bytesDone, Math.max(1, sample.bytesTotal)), payload);
      return;
    }
    const now = Date.now();
    if (now - this.lastLine >= this.intervalMs) {
      this.lastLine = now;
      const eta = totals ? `, ETA ${payload.etaText}` : '';
      process.stderr.write(
        `${this.label}: ${payload.files} files, ${payload.bytes}, ${payload.rate}${eta}\n`,
      );
    }
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
    void this.last;
  }
}
