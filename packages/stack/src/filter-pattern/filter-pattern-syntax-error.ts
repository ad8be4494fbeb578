/**
 * A filter pattern that is not valid CloudWatch Logs JSON filter-pattern syntax (or uses
 * a part of it this evaluator does not implement).
 *
 * It has the shape of `@backupctl/core`'s `BackupctlError` (`code`, `source`,
 * `resolution`, `details`) and carries its `Symbol.for('backupctl.error')` brand, so
 * `BackupctlError.is()` recognises it; it extends `Error` directly because the stack
 * package does not depend on core.
 */
export class FilterPatternSyntaxError extends Error {
  readonly code = 'FILTER_PATTERN_SYNTAX';
  readonly source = 'user';
  readonly resolution =
    'Write the pattern as `{ <condition> }`; see "Filter pattern syntax" in the CloudWatch Logs User Guide.';
  /** The pattern text that failed. */
  readonly pattern: string;
  /** 0-based offset of the offending character in `pattern`. */
  readonly position: number;

  constructor(reason: string, pattern: string, position: number) {
    super(
      `Invalid filter pattern at column ${position + 1}: ${reason}\n  ${pattern}\n  ${' '.repeat(position)}^`,
    );
    this.name = 'FilterPatternSyntaxError';
    this.pattern = pattern;
    this.position = position;
    Object.defineProperty(this, Symbol.for('backupctl.error'), { value: true });
  }

  get details(): Record<string, unknown> {
    return { pattern: this.pattern, position: this.position };
  }
}
