import { BackupctlError, ErrorCodes } from './backupctl-error.js';

/**
 * Raw operating-system errors (ENOSPC, ENOENT, EACCES, …) and JSON parse errors, turned
 * into coded errors with a message a person can act on. Used once, where a command ends:
 * an error already coded is returned unchanged (classified once, never downgraded).
 */
export function explainSystemError(error: unknown): BackupctlError | undefined {
  if (BackupctlError.is(error)) return undefined;
  const e = error as NodeJS.ErrnoException | undefined;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const where = typeof e?.path === 'string' ? e.path : undefined;
  const at = where ? ` (${where})` : '';
  const make = (errorCode: string, message: string, resolution: string) =>
    new BackupctlError(errorCode, message, {
      source: 'environment',
      cause: error,
      resolution,
      details: { errno: code, ...(where ? { path: where } : {}) },
    });
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return make(
        ErrorCodes.noSpace,
        `no space left on the disk${at}${code === 'EDQUOT' ? ' (quota exceeded)' : ''}`,
        'Free space on that disk, or move the cache elsewhere with BACKUPCTL_CACHE_DIR. Snapshots already written are complete: an object is only ever added whole.',
      );
    case 'ENOENT':
      return make(
        ErrorCodes.pathNotFound,
        `a file or folder does not exist${at}`,
        'Check the path (and the device config); it may have been removed while backupctl ran.',
      );
    case 'EACCES':
    case 'EPERM':
      return make(
        ErrorCodes.storage,
        `permission denied${at}`,
        'Run as a user who may read (or write) it, or change its permissions.',
      );
    case 'EROFS':
      return make(ErrorCodes.storage, `the file system is read-only${at}`, 'Use a writable location.');
    case 'ENOTDIR':
    case 'EISDIR':
      return make(
        ErrorCodes.usage,
        `a path is not what was expected${at}: ${e?.message ?? code}`,
        'Check the path.',
      );
    case 'EMFILE':
    case 'ENFILE':
      return make(ErrorCodes.storage, 'too many open files', 'Raise the limit (ulimit -n) and try again.');
    case 'EIO':
      return make(
        ErrorCodes.storage,
        `input/output error${at}: the disk or its connection failed`,
        'Check the disk (dmesg) before trying again.',
      );
  }
  if (error instanceof SyntaxError && /JSON/.test(error.message)) {
    return new BackupctlError(ErrorCodes.configInvalid, `a JSON document is malformed: ${error.message}`, {
      cause: error,
      resolution: 'Check the file or input named above; backupctl writes its own files atomically.',
    });
  }
  return undefined;
}
