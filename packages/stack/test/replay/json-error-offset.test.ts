import { describe, expect, it } from 'vitest';
import { jsonErrorOffset, lineAt } from '../../src/replay/json-error-offset.js';

describe('jsonErrorOffset', () => {
  it.each([
    '{}',
    '[]',
    ' {"Records": [{"a": 1, "b": [true, false, null], "c": "x\\"y\\u00e9"}]} ',
    '-0.5e+3',
    '"s"',
  ])('valid JSON %s has no error', (text) => {
    expect(() => JSON.parse(text)).not.toThrow();
    expect(jsonErrorOffset(text)).toBeUndefined();
  });

  it.each([
    ['{"a": ,}', 6],
    ['{"a": 1,}', 8],
    ['{"a" 1}', 5],
    ['[1 2]', 3],
    ['{"a": tru}', 6],
    ['{"a": "x\\q"}', 9],
    ['{"a": 01}', 7],
    ['{"a": 1} x', 9],
    ['{"a": "unterminated', 19],
    ['{"a": [1, 2', 11],
    ['', 0],
    ["{'a': 1}", 1],
  ])('%j fails at offset %i, as JSON.parse agrees it is invalid', (text, offset) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(jsonErrorOffset(text)).toBe(offset);
  });

  it('lineAt counts newlines before the offset', () => {
    expect(lineAt('a\nb\nc', 0)).toBe(1);
    expect(lineAt('a\nb\nc', 2)).toBe(2);
    expect(lineAt('a\nb\nc', 4)).toBe(3);
  });
});
