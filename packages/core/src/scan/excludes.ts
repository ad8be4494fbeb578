import path from 'node:path';
import picomatch from 'picomatch';

/**
 * Path patterns with restic's rules, for excludes and includes alike: a pattern starting
 * with '/' is anchored at the root; any other pattern — `*.tmp`, `node_modules`,
 * `cache/*.bin` — matches at any depth. A pattern matching a folder matches everything
 * below it. `**` crosses folders, `*` does not.
 */
export class PathPatterns {
  private readonly matchers: picomatch.Matcher[];

  constructor(readonly patterns: readonly string[]) {
    const options = { dot: true };
    this.matchers = patterns
      .map((p) => p.trim())
      .filter((p) => p.length > 0)
      .map((p) => p.replace(/\/+$/, ''))
      .map((p) => picomatch(p.startsWith('/') ? p : `**/${p}`, options));
  }

  get empty(): boolean {
    return this.matchers.length === 0;
  }

  /** Whether the absolute path, or one of the folders it is in, matches. */
  matches(absolutePath: string): boolean {
    if (this.matchers.length === 0) return false;
    for (let p = path.posix.normalize(absolutePath); p !== '/' && p !== '.'; p = path.posix.dirname(p)) {
      if (this.matchers.some((m) => m(p))) return true;
    }
    return false;
  }
}

/** `--exclude GLOB` rules (see PathPatterns). */
export class Excluder {
  private readonly rules: PathPatterns;

  constructor(patterns: string[]) {
    this.rules = new PathPatterns(patterns);
  }

  excludes(absolutePath: string): boolean {
    return this.rules.matches(absolutePath);
  }
}

/** An `--exclude-file`: one pattern per line; blank lines and `#` comments skipped. */
export function parseExcludeFile(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith('#'));
}
