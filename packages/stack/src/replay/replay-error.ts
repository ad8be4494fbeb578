export type ReplayErrorCode =
  /** The file cannot be opened or read (missing, a directory, no permission). */
  | 'REPLAY_FILE_UNREADABLE'
  /** The file starts like gzip but does not decompress (corrupt or truncated). */
  | 'REPLAY_BAD_GZIP'
  /** The text is not JSON (a Records file) or a line is not JSON (JSON lines). */
  | 'REPLAY_BAD_JSON'
  /** The JSON is not shaped like CloudTrail records. */
  | 'REPLAY_BAD_RECORD';

const RESOLUTIONS: Record<ReplayErrorCode, string> = {
  REPLAY_FILE_UNREADABLE: 'Check the path and its permissions.',
  REPLAY_BAD_GZIP: 'Download the file again: it is not a complete gzip file.',
  REPLAY_BAD_JSON:
    'Give CloudTrail files as delivered to S3 ({"Records":[…]}, gzipped or not) or JSON lines, one record a line.',
  REPLAY_BAD_RECORD:
    'Give CloudTrail files as delivered to S3 ({"Records":[…]}, gzipped or not) or JSON lines, one record a line.',
};

/**
 * A CloudTrail file that replay cannot read. Says which file and, where it can, which
 * line. Shaped like `@backupctl/core`'s `BackupctlError` and carrying its brand (see
 * FilterPatternSyntaxError for why it does not extend it).
 */
export class ReplayError extends Error {
  readonly code: ReplayErrorCode;
  readonly source = 'user';
  readonly resolution: string;
  readonly file: string;
  /** 1-based line in the (decompressed) text, when known. */
  readonly line: number | undefined;

  constructor(
    code: ReplayErrorCode,
    file: string,
    line: number | undefined,
    reason: string,
    cause?: unknown,
  ) {
    super(
      `${line === undefined ? file : `${file}:${line}`}: ${reason}`,
      cause === undefined ? undefined : { cause },
    );
    this.name = 'ReplayError';
    this.code = code;
    this.file = file;
    this.line = line;
    this.resolution = RESOLUTIONS[code];
    Object.defineProperty(this, Symbol.for('backupctl.error'), { value: true });
  }

  get details(): Record<string, unknown> {
    return { file: this.file, line: this.line };
  }
}
