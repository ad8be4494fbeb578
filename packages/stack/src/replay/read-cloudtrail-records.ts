import { open } from 'node:fs/promises';
import { pipeline, type Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { jsonErrorOffset, lineAt } from './json-error-offset.js';
import { ReplayError } from './replay-error.js';

export type CloudTrailRecord = Record<string, unknown>;

export interface LocatedRecord {
  record: CloudTrailRecord;
  /** Where it came from: `file:line` (JSON lines) or `file Records[i]`. */
  location: string;
}

/** Bytes read ahead to tell a `{"Records":[…]}` file from JSON lines. */
const HEAD_BYTES = 4096;
const GZIP_MAGIC = [0x1f, 0x8b] as const;
const RECORDS_FILE = /^\s*\{\s*"Records"\s*:/;
const ARRAY_FILE = /^\s*\[/;

/**
 * Streams the CloudTrail records of one file, in order. Accepts, gzipped (told by its
 * magic bytes, whatever the name) or not:
 * - a delivery file as CloudTrail writes it to S3: `{"Records":[…]}` (parsed whole:
 *   CloudTrail keeps these small); also a bare JSON array of records;
 * - JSON lines, one record a line (read line by line, never whole); a line that is a
 *   whole `{"Records":[…]}` object is expanded.
 * Throws a {@link ReplayError} naming the file (and the line) it cannot read.
 */
export async function* readCloudTrailRecords(file: string): AsyncGenerator<LocatedRecord> {
  const gzipped = await startsWithGzipMagic(file);
  let source: Readable;
  try {
    const handle = await open(file, 'r');
    const raw = handle.createReadStream();
    source = gzipped ? pipeline(raw, createGunzip(), () => {}) : raw;
  } catch (error) {
    throw unreadable(file, error);
  }
  const chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  try {
    const next = async (): Promise<Buffer | undefined> => {
      try {
        const result = await chunks.next();
        return result.done ? undefined : result.value;
      } catch (error) {
        throw readFailure(file, gzipped, error);
      }
    };

    const head: Buffer[] = [];
    let headLength = 0;
    while (headLength < HEAD_BYTES) {
      const chunk = await next();
      if (chunk === undefined) break;
      head.push(chunk);
      headLength += chunk.length;
    }
    async function* all(): AsyncGenerator<Buffer> {
      yield* head;
      for (let chunk = await next(); chunk !== undefined; chunk = await next()) yield chunk;
    }

    const start = stripBom(Buffer.concat(head).toString('utf8'));
    yield* recordsOfJsonLines(file, all(), RECORDS_FILE.test(start) || ARRAY_FILE.test(start));
  } finally {
    source.destroy();
  }
}

/**
 * Reads JSON lines. When the first non-blank line does not parse on its own and the file
 * began like `{"Records":…` or `[`, it is one JSON document spread over lines (a
 * pretty-printed delivery file): the rest is read and parsed whole.
 */
async function* recordsOfJsonLines(
  file: string,
  chunks: AsyncIterable<Buffer>,
  mayBeOneDocument: boolean,
): AsyncGenerator<LocatedRecord> {
  let lineNumber = 0;
  let firstRecordLineSeen = false;
  /** Text read before the first record line parsed (for the whole-document fallback). */
  let before = '';

  function* parseLine(text: string): Generator<LocatedRecord> {
    lineNumber++;
    const line = (lineNumber === 1 ? stripBom(text) : text).trim();
    if (line === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (error) {
      throw new ReplayError(
        'REPLAY_BAD_JSON',
        file,
        lineNumber,
        `not valid JSON (${(error as Error).message})`,
        error,
      );
    }
    yield* recordsOf(parsed, file, lineNumber);
  }

  /** Consumes one complete line; returns false once the rest has been read whole. */
  async function* takeLine(
    line: string,
    rest: () => Promise<string>,
  ): AsyncGenerator<LocatedRecord, boolean> {
    if (firstRecordLineSeen || !mayBeOneDocument) {
      yield* parseLine(line);
    } else if (line.trim() === '') {
      before += `${line}\n`;
      lineNumber++;
    } else if (parsesAlone(line)) {
      firstRecordLineSeen = true;
      yield* parseLine(line);
    } else {
      // One document over many lines: read it all and parse it whole.
      yield* recordsOfWholeDocument(file, stripBom(`${before}${line}\n${await rest()}`));
      return false;
    }
    return true;
  }

  // Split into lines without rescanning or re-copying a long line: the pieces of the
  // current line are kept apart and joined once its newline arrives.
  const decoder = new StringDecoder('utf8');
  const iterator = chunks[Symbol.asyncIterator]();
  let pieces: string[] = [];
  let text = '';
  let from = 0;
  const rest = async (): Promise<string> => {
    const parts = [text.slice(from)];
    for (let r = await iterator.next(); !r.done; r = await iterator.next())
      parts.push(decoder.write(r.value));
    parts.push(decoder.end());
    return parts.join('');
  };
  for (;;) {
    const next = await iterator.next();
    text = next.done ? decoder.end() : decoder.write(next.value);
    from = 0;
    for (let newline = text.indexOf('\n'); newline !== -1; newline = text.indexOf('\n', from)) {
      pieces.push(text.slice(from, newline));
      from = newline + 1;
      const line = pieces.join('');
      pieces = [];
      if (!(yield* takeLine(line, rest))) return;
    }
    if (from < text.length) pieces.push(text.slice(from));
    if (next.done) {
      if (pieces.length > 0) {
        from = text.length;
        yield* takeLine(pieces.join(''), rest);
      }
      return;
    }
  }
}

function parsesAlone(line: string): boolean {
  try {
    JSON.parse(stripBom(line));
    return true;
  } catch {
    return false;
  }
}

function* recordsOfWholeDocument(file: string, text: string): Generator<LocatedRecord> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const offset = jsonErrorOffset(text);
    const line = offset === undefined ? undefined : lineAt(text, offset);
    throw new ReplayError(
      'REPLAY_BAD_JSON',
      file,
      line,
      `not valid JSON (${(error as Error).message})`,
      error,
    );
  }
  yield* recordsOf(parsed, file, undefined);
}

/**
 * The records in one parsed JSON value: a `{"Records":[…]}` document, an array of
 * records, or (in JSON lines) a single record.
 */
function* recordsOf(parsed: unknown, file: string, line: number | undefined): Generator<LocatedRecord> {
  const at = line === undefined ? `${file} ` : `${file}:${line} `;
  let records: unknown[];
  let where: string;
  if (Array.isArray(parsed)) {
    records = parsed;
    where = '';
  } else if (
    isObject(parsed) &&
    'Records' in parsed &&
    parsed.eventID === undefined &&
    parsed.eventName === undefined
  ) {
    if (!Array.isArray(parsed.Records)) {
      throw new ReplayError(
        'REPLAY_BAD_RECORD',
        file,
        line,
        '"Records" is not an array of CloudTrail records',
      );
    }
    records = parsed.Records;
    where = 'Records';
  } else if (isObject(parsed) && line !== undefined) {
    yield { record: parsed, location: `${file}:${line}` };
    return;
  } else {
    throw new ReplayError('REPLAY_BAD_RECORD', file, line, 'not a JSON object (a CloudTrail record)');
  }
  for (const [i, record] of records.entries()) {
    if (!isObject(record)) {
      throw new ReplayError('REPLAY_BAD_RECORD', file, line, `${where}[${i}] is not a JSON object`);
    }
    yield { record, location: `${at}${where}[${i}]` };
  }
}

async function startsWithGzipMagic(file: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(file, 'r');
    const buffer = Buffer.alloc(2);
    const { bytesRead } = await handle.read(buffer, 0, 2, 0);
    return bytesRead === 2 && buffer[0] === GZIP_MAGIC[0] && buffer[1] === GZIP_MAGIC[1];
  } catch (error) {
    throw unreadable(file, error);
  } finally {
    await handle?.close();
  }
}

function unreadable(file: string, error: unknown): ReplayError {
  const code = (error as NodeJS.ErrnoException).code;
  const reason =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EISDIR'
        ? 'is a directory, not a file'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : `cannot be read (${(error as Error).message})`;
  return new ReplayError('REPLAY_FILE_UNREADABLE', file, undefined, reason, error);
}

function readFailure(file: string, gzipped: boolean, error: unknown): ReplayError {
  const code = String((error as NodeJS.ErrnoException).code ?? '');
  if (gzipped && code.startsWith('Z_')) {
    return new ReplayError(
      'REPLAY_BAD_GZIP',
      file,
      undefined,
      `gzip data is corrupt or truncated (${(error as Error).message})`,
      error,
    );
  }
  return unreadable(file, error);
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
