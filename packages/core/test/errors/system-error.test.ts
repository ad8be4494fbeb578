import { describe, expect, it } from 'vitest';
import { BackupctlError, ErrorCodes } from '../../src/errors/index.js';
import { explainSystemError } from '../../src/errors/system-error.js';

const errno = (code: string, path?: string) =>
  Object.assign(new Error(`${code}: raw message, write`), { code, ...(path ? { path } : {}) });

describe('raw system errors get a message a person can act on', () => {
  it('ENOSPC names the disk and says snapshots already written are whole', () => {
    const e = explainSystemError(errno('ENOSPC', '/var/cache/backupctl/x'));
    expect(e).toMatchObject({
      code: ErrorCodes.noSpace,
      message: 'no space left on the disk (/var/cache/backupctl/x)',
    });
    expect(e?.resolution).toMatch(/BACKUPCTL_CACHE_DIR/);
  });
  it.each([
    ['EDQUOT', ErrorCodes.noSpace, /quota/],
    ['ENOENT', ErrorCodes.pathNotFound, /does not exist/],
    ['EACCES', ErrorCodes.storage, /permission denied/],
    ['EROFS', ErrorCodes.storage, /read-only/],
    ['EIO', ErrorCodes.storage, /input\/output error/],
    ['EMFILE', ErrorCodes.storage, /too many open files/],
  ])('%s', (code, expected, message) => {
    expect(explainSystemError(errno(code, '/p'))).toMatchObject({
      code: expected,
      message: expect.stringMatching(message),
    });
  });
  it('a JSON parse error says so', () => {
    let parseError: unknown;
    try {
      JSON.parse('{');
    } catch (error) {
      parseError = error;
    }
    expect(explainSystemError(parseError)).toMatchObject({
      code: ErrorCodes.configInvalid,
      message: expect.stringMatching(/JSON/),
    });
  });
  it('an error already coded is never reclassified; unknown errors are left alone', () => {
    expect(
      explainSystemError(new BackupctlError(ErrorCodes.offline, 'x', { cause: errno('ENOSPC') })),
    ).toBeUndefined();
    expect(explainSystemError(new Error('something else'))).toBeUndefined();
  });
});
