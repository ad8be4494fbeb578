/**
 * S3 client middleware that enforces the access manifest locally, and one that traces every
 * request actually sent.
 *
 * The guard runs at the start of the `initialize` step: a command outside the manifest, for
 * another bucket, or for a key outside the device prefix is refused before it is
 * serialised, signed or sent. Such a refusal is always a bug of ours — never a quarantine —
 * and it is what keeps that bug from costing the owner a quarantined laptop.
 *
 * The trace runs inside the retry loop, after signing, so it sees each attempt that really
 * goes out, with the headers and query AWS evaluates.
 */
import { appendFileSync } from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import { BackupctlError, ErrorCodes } from '../errors/backupctl-error.js';
import {
  type AccessRequest,
  assertValidBucketName,
  bucketArn,
  COMMAND_ACCESS,
  isManifestCommand,
  type ManifestCommandName,
  objectArn,
} from './manifest.js';

/** Where a client may act: one bucket, one prefix (`devices/<device>/`). */
export interface AccessScope {
  bucket: string;
  /** The device's repository prefix, e.g. `devices/laptop/` (the trailing '/' is implied). */
  prefix: string;
}

export const ACCESS_GUARD_MIDDLEWARE = 'backupctlAccessGuard';
export const AWS_TRACE_MIDDLEWARE = 'backupctlAwsTrace';

/** Thrown when a command is refused locally: a bug in backupctl, never a quarantine. */
export class AccessRefusedError extends BackupctlError {
  readonly command: string;

  constructor(command: string, reason: string) {
    super(
      ErrorCodes.accessRefused,
      `${command} refused locally by the access guard: ${reason}. Nothing was sent to AWS. ` +
        'This is a bug in backupctl, not a quarantine.',
      {
        source: 'toolkit',
        resolution:
          "Report this bug. Sending this request would have been denied by the device's IAM policy " +
          'and quarantined the device; the guard stopped it before any network I/O.',
        details: { command, reason },
      },
    );
    this.command = command;
  }
}

/** Segments of a key or prefix that S3 would store literally but URL handling may resolve. */
function badSegment(segment: string): boolean {
  return segment === '.' || segment === '..';
}

// C0 controls, DEL, backslash: never in a repository key.
const FORBIDDEN_CHARS = /[\u0000-\u001f\u007f\\]/;
const MAX_KEY_BYTES = 1024;

/**
 * Validates a scope once and returns it normalised and frozen. The prefix may be given with
 * or without its trailing '/' (`devices/laptop` as S3Backend takes it, or `devices/laptop/`);
 * it may not be empty: a device never acts on the whole bucket.
 */
export function assertValidScope(scope: AccessScope): AccessScope {
  assertValidBucketName(scope.bucket);
  const prefix = scope.prefix.endsWith('/') ? scope.prefix : `${scope.prefix}/`;
  if (
    prefix === '/' ||
    prefix.startsWith('/') ||
    FORBIDDEN_CHARS.test(prefix) ||
    prefix
      .slice(0, -1)
      .split('/')
      .some((s) => s === '' || badSegment(s) || s.includes('*') || s.includes('?'))
  ) {
    throw new TypeError(
      `invalid access scope prefix ${JSON.stringify(scope.prefix)}: expected e.g. "devices/laptop/"`,
    );
  }
  return Object.freeze({ bucket: scope.bucket, prefix });
}

/** Why a key is not a valid object key under the prefix, or undefined when it is. */
function keyProblem(key: unknown, prefix: string): string | undefined {
  if (typeof key !== 'string') return 'no Key';
  if (!key.startsWith(prefix)) return `Key ${JSON.stringify(key)} is outside ${JSON.stringify(prefix)}`;
  const rest = key.slice(prefix.length);
  if (rest === '') return `Key ${JSON.stringify(key)} names the prefix itself`;
  if (FORBIDDEN_CHARS.test(rest)) return `Key ${JSON.stringify(key)} holds a control character or backslash`;
  if (rest.split('/').some((s) => s === '' || badSegment(s))) {
    return `Key ${JSON.stringify(key)} has an empty, '.' or '..' segment`;
  }
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) return `Key is longer than ${MAX_KEY_BYTES} bytes`;
  return undefined;
}

/** Like keyProblem, for a listing prefix: it may be the scope prefix itself or end mid-name. */
function listPrefixProblem(listPrefix: unknown, prefix: string): string | undefined {
  if (typeof listPrefix !== 'string') {
    return 'no Prefix (a listing of the whole bucket is denied by the device policy)';
  }
  if (!listPrefix.startsWith(prefix)) {
    return `Prefix ${JSON.stringify(listPrefix)} is outside ${JSON.stringify(prefix)}`;
  }
  const rest = listPrefix.slice(prefix.length);
  if (FORBIDDEN_CHARS.test(rest)) return `Prefix ${JSON.stringify(listPrefix)} holds a control character`;
  const segments = rest.split('/');
  const last = segments.pop() ?? '';
  if (segments.some((s) => s === '' || badSegment(s)) || badSegment(last)) {
    return `Prefix ${JSON.stringify(listPrefix)} has an empty, '.' or '..' segment`;
  }
  if (Buffer.byteLength(listPrefix, 'utf8') > MAX_KEY_BYTES)
    return `Prefix is longer than ${MAX_KEY_BYTES} bytes`;
  return undefined;
}

/**
 * Decides whether a command may be sent, and how IAM will see it. Pure: the middleware
 * calls it with the command's name and input; tests call it directly.
 *
 * @throws AccessRefusedError naming the command when it must not be sent.
 */
export function checkCommandAccess(
  commandName: string,
  input: Readonly<Record<string, unknown>>,
  scope: AccessScope,
  partition = 'aws',
): AccessRequest {
  const refuse = (reason: string): never => {
    throw new AccessRefusedError(commandName, reason);
  };
  const { bucket, prefix } = assertValidScope(scope);
  if (!isManifestCommand(commandName)) {
    return refuse(`${commandName} is not in the access manifest`);
  }
  const access = COMMAND_ACCESS[commandName];
  for (const [field, value] of Object.entries(input)) {
    if (value !== undefined && !access.allowedInput.includes(field)) {
      refuse(`input field ${field} is not allowed for ${commandName} (it may need another IAM action)`);
    }
  }
  if (input.Bucket !== bucket) {
    refuse(`Bucket ${JSON.stringify(input.Bucket)} is not the backup bucket ${JSON.stringify(bucket)}`);
  }
  if (access.resource === 'bucket') {
    const problem = listPrefixProblem(input.Prefix, prefix);
    if (problem) refuse(problem);
    if (input.Delimiter !== undefined && input.Delimiter !== '/') refuse('Delimiter must be "/"');
    return {
      action: access.action,
      resource: bucketArn(bucket, partition),
      context: { 's3:prefix': input.Prefix as string },
    };
  }
  const problem = keyProblem(input.Key, prefix);
  if (problem) refuse(problem);
  const context: Record<string, string> = {};
  if (commandName === 'PutObjectCommand') {
    if (input.IfNoneMatch !== '*') {
      refuse('PutObject without IfNoneMatch "*" (the device may create objects, never overwrite them)');
    }
    context['s3:if-none-match'] = '*';
  }
  return { action: access.action, resource: objectArn(bucket, input.Key as string, partition), context };
}

// The SDK's middleware types are generic over every command's input and output; these
// middlewares only read `input`, `request` and `response`, so they are typed loosely here.
type AnyArgs = { input: Record<string, unknown>; request?: unknown };
type AnyHandler = (args: AnyArgs) => Promise<{ response?: unknown; output?: unknown }>;
type AnyContext = { commandName?: string };
type AnyMiddleware = (next: AnyHandler, context: AnyContext) => AnyHandler;
interface LooseStack {
  add(middleware: AnyMiddleware, options: Record<string, unknown>): void;
  addRelativeTo(middleware: AnyMiddleware, options: Record<string, unknown>): void;
}
const stackOf = (client: S3Client) => client.middlewareStack as unknown as LooseStack;

/**
 * Makes `client` refuse, locally, every command the access manifest does not allow within
 * `scope`. Installing it again replaces the previous guard.
 */
export function installAccessGuard(
  client: S3Client,
  scope: AccessScope,
  options: { partition?: string } = {},
): void {
  const checked = assertValidScope(scope);
  const guard: AnyMiddleware = (next, context) => async (args) => {
    checkCommandAccess(context.commandName ?? 'an unnamed command', args.input, checked, options.partition);
    return next(args);
  };
  stackOf(client).add(guard, {
    step: 'initialize',
    priority: 'high',
    name: ACCESS_GUARD_MIDDLEWARE,
    tags: ['BACKUPCTL', 'ACCESS'],
    override: true,
  });
}

/** One line of the AWS trace (`BACKUPCTL_AWS_TRACE`). */
export interface AwsTraceLine {
  time: string;
  service: 's3';
  command: string;
  /** IAM action, or null for a command outside the manifest (only without the guard). */
  action: string | null;
  resource: string | null;
  /** Condition keys as they were on the wire (`s3:prefix`, `s3:if-none-match`). */
  context: Record<string, string>;
  /** HTTP status of the answer, or null when no answer came (network error). */
  status: number | null;
  /** Error name for a network failure. */
  error?: string;
  /**
   * Further authorisation S3 performed for this request: a GetObject/HeadObject of a
   * missing key is answered 404 only if `s3:ListBucket` with `s3:prefix` = the key is
   * allowed (403 otherwise).
   */
  implied?: { action: string; resource: string; context: Record<string, string> }[];
}

interface WireRequest {
  headers?: Record<string, string>;
  query?: Record<string, string | string[] | null>;
}

function header(request: WireRequest | undefined, name: string): string | undefined {
  for (const [key, value] of Object.entries(request?.headers ?? {})) {
    if (key.toLowerCase() === name) return value;
  }
  return undefined;
}

function queryValue(request: WireRequest | undefined, name: string): string | undefined {
  const value = request?.query?.[name];
  if (Array.isArray(value)) return value[0];
  return value ?? undefined;
}

/** The trace line for one attempt. Exported for tests of the e2e evaluator. */
export function traceLineFor(
  commandName: string,
  input: Readonly<Record<string, unknown>>,
  request: unknown,
  status: number | null,
  partition = 'aws',
): AwsTraceLine {
  const wire = request as WireRequest | undefined;
  const base = { time: new Date().toISOString(), service: 's3' as const, command: commandName, status };
  if (!isManifestCommand(commandName)) {
    return { ...base, action: null, resource: null, context: {} };
  }
  const access = COMMAND_ACCESS[commandName as ManifestCommandName];
  const bucket = String(input.Bucket);
  const context: Record<string, string> = {};
  if (access.resource === 'bucket') {
    const prefix = queryValue(wire, 'prefix');
    if (prefix !== undefined) context['s3:prefix'] = prefix;
    return { ...base, action: access.action, resource: bucketArn(bucket, partition), context };
  }
  const key = String(input.Key);
  const ifNoneMatch = commandName === 'PutObjectCommand' ? header(wire, 'if-none-match') : undefined;
  if (ifNoneMatch !== undefined) context['s3:if-none-match'] = ifNoneMatch;
  const line: AwsTraceLine = {
    ...base,
    action: access.action,
    resource: objectArn(bucket, key, partition),
    context,
  };
  if (status === 404 && access.action === 's3:GetObject') {
    line.implied = [
      { action: 's3:ListBucket', resource: bucketArn(bucket, partition), context: { 's3:prefix': key } },
    ];
  }
  return line;
}

function statusOf(value: unknown): number | null {
  const v = value as { statusCode?: unknown; $metadata?: { httpStatusCode?: unknown }; $response?: unknown };
  if (typeof v?.statusCode === 'number') return v.statusCode;
  if (typeof v?.$metadata?.httpStatusCode === 'number') return v.$metadata.httpStatusCode;
  const response = v?.$response as { statusCode?: unknown } | undefined;
  if (typeof response?.statusCode === 'number') return response.statusCode;
  return null;
}

/**
 * Appends one JSON line to `file` for every attempt `client` really sends (after signing,
 * inside the retry loop). Each line is written with a single append, so lines of concurrent
 * requests never interleave. The config layer decides the file (`BACKUPCTL_AWS_TRACE`).
 */
export function installAwsTrace(client: S3Client, file: string, options: { partition?: string } = {}): void {
  const write = (line: AwsTraceLine) => appendFileSync(file, `${JSON.stringify(line)}\n`, { flag: 'a' });
  const trace: AnyMiddleware = (next, context) => async (args) => {
    const command = context.commandName ?? 'unknown';
    try {
      const result = await next(args);
      write(traceLineFor(command, args.input, args.request, statusOf(result.response), options.partition));
      return result;
    } catch (error) {
      const status = statusOf(error);
      const line = traceLineFor(command, args.input, args.request, status, options.partition);
      if (status === null)
        line.error = (error as { code?: string; name?: string }).code ?? (error as Error).name;
      write(line);
      throw error;
    }
  };
  stackOf(client).addRelativeTo(trace, {
    relation: 'after',
    toMiddleware: 'httpSigningMiddleware',
    name: AWS_TRACE_MIDDLEWARE,
    tags: ['BACKUPCTL', 'TRACE'],
    override: true,
  });
}
