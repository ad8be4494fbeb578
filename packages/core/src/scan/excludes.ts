import path from 'node:path';
import picomatch from 'picomatch';

/**
 * `--exclude GLOB` rules, restic-style: a pattern with a '/' matches the absolute path
 * (or a path below a matching folder); one without matches any single name component.
 */
export class Excluder {
  private readonly fullPath: picomatch.Matcher[];
  private readonly baseName: picomatch.Matcher[];

  constructor(patterns: string[]) {
    const options = { dot: true };
    this.fullPath = patterns.filter((p) => p.includes('/')).map((p) => picomatch(p, options));
    this.baseName = patterns.filter((p) => !p.includes('/')).map((p) => picomatch(p, options));
  }

  excludes(absolutePath: string): boolean {
    const name = path.posix.basename(absolutePath);
    return this.baseName.some((m) => m(name)) || this.fullPath.some((m) => m(absolutePath));
  }
}
