import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FilterPatternSyntaxError,
  matchesFilterPattern,
  parseFilterPattern,
} from '../../src/filter-pattern/index.js';

/**
 * Fuzzing the filter-pattern parser (issue 11): any text either parses or is refused with
 * a FilterPatternSyntaxError (exit 2 in the CLI); a parsed pattern matched against any JSON
 * event answers true or false. Never another exception, never a hang.
 */
const tokens = fc.constantFrom(
  '{',
  '}',
  '(',
  ')',
  '$',
  '.',
  '[',
  ']',
  '0',
  '1',
  '&&',
  '||',
  '=',
  '!=',
  '<',
  '>',
  '<=',
  '>=',
  '"',
  '"x"',
  '*',
  'IS',
  'NULL',
  'NOT',
  'EXISTS',
  'TRUE',
  'FALSE',
  ' ',
  'eventName',
  'userIdentity',
  'arn:aws:iam::*',
  '-1.5e3',
  '\\',
  '%',
  "'",
  'errorCode',
);
const patternText = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.array(tokens, { maxLength: 30 }).map((t) => t.join('')),
  fc.array(tokens, { maxLength: 20 }).map((t) => `{ ${t.join(' ')} }`),
);

describe('filter-pattern parser under fuzzing', () => {
  it('parses or throws FilterPatternSyntaxError, and matching never throws', () => {
    fc.assert(
      fc.property(patternText, fc.jsonValue(), (text, event) => {
        let pattern: ReturnType<typeof parseFilterPattern>;
        try {
          pattern = parseFilterPattern(text);
        } catch (error) {
          expect(error).toBeInstanceOf(FilterPatternSyntaxError);
          return;
        }
        expect(typeof matchesFilterPattern(pattern, event)).toBe('boolean');
      }),
      { numRuns: 3000 },
    );
  });
});
