import { describe, expect, it } from 'vitest';
import { FilterPatternSyntaxError, parseFilterPattern } from '../../src/filter-pattern/index.js';

function syntaxError(pattern: string): FilterPatternSyntaxError {
  try {
    parseFilterPattern(pattern);
  } catch (error) {
    expect(error).toBeInstanceOf(FilterPatternSyntaxError);
    return error as FilterPatternSyntaxError;
  }
  throw new Error(`expected ${JSON.stringify(pattern)} to be rejected`);
}

describe('parseFilterPattern: the tree', () => {
  it('parses selectors with properties and array indexes', () => {
    const ast = parseFilterPattern('{ $.objectList[1].id = 2 }');
    expect(ast.expression).toEqual({
      kind: 'comparison',
      selector: { text: '$.objectList[1].id', path: ['objectList', 1, 'id'] },
      operator: '=',
      operand: { type: 'number', value: 2, text: '2' },
    });
  });

  it('accepts - and _ in property names, and nested indexes', () => {
    const ast = parseFilterPattern('{ $.a-b_c[0][12] NOT EXISTS }');
    expect(ast.expression).toMatchObject({
      kind: 'test',
      test: 'notExists',
      selector: { path: ['a-b_c', 0, 12] },
    });
  });

  it('splits wildcards off string operands; a middle * stays in the text', () => {
    const operand = (p: string) => {
      const e = parseFilterPattern(p).expression;
      if (e.kind !== 'comparison') throw new Error('not a comparison');
      return e.operand;
    };
    expect(operand('{ $.a = "*Denied*" }')).toEqual({
      type: 'string',
      text: 'Denied',
      leadingWildcard: true,
      trailingWildcard: true,
      quoted: true,
    });
    expect(operand('{ $.a = Ev*ent }')).toMatchObject({
      text: 'Ev*ent',
      leadingWildcard: false,
      trailingWildcard: false,
    });
    expect(operand('{ $.a = * }')).toMatchObject({ text: '', leadingWildcard: true, trailingWildcard: true });
    expect(operand('{ $.a = 123.123.* }')).toMatchObject({
      type: 'string',
      text: '123.123.',
      trailingWildcard: true,
    });
    expect(operand('{ $.a = "a \\"q\\" \\\\ b" }')).toMatchObject({ text: 'a "q" \\ b' });
  });

  it('reads numbers in AWS forms: signs, decimals, scientific notation', () => {
    for (const [text, value] of [
      ['+1000', 1000],
      ['-3', -3],
      ['55.5', 55.5],
      ['10e3', 10000],
      ['10e-3', 0.01],
    ] as const) {
      const e = parseFilterPattern(`{ $.n >= ${text} }`).expression;
      expect(e).toMatchObject({ operator: '>=', operand: { type: 'number', value, text } });
    }
  });

  it('&& binds tighter than ||: a || b && c parses as a || (b && c)', () => {
    const e = parseFilterPattern('{ $.a = 1 || $.b = 2 && $.c = 3 }').expression;
    expect(e.kind).toBe('or');
    if (e.kind !== 'or') return;
    expect(e.left).toMatchObject({ kind: 'comparison', selector: { text: '$.a' } });
    expect(e.right).toMatchObject({
      kind: 'and',
      left: { selector: { text: '$.b' } },
      right: { selector: { text: '$.c' } },
    });
  });

  it('parentheses override precedence', () => {
    const e = parseFilterPattern('{($.a = 1 || $.b = 2) && $.c = 3}').expression;
    expect(e).toMatchObject({ kind: 'and', left: { kind: 'or' }, right: { selector: { text: '$.c' } } });
  });

  it('keywords: IS NULL, IS TRUE, IS FALSE, NOT EXISTS (any case, any spacing)', () => {
    expect(parseFilterPattern('{ $.a IS NULL }').expression).toMatchObject({ test: 'isNull' });
    expect(parseFilterPattern('{ $.a IS TRUE }').expression).toMatchObject({ test: 'isTrue' });
    expect(parseFilterPattern('{ $.a is false }').expression).toMatchObject({ test: 'isFalse' });
    expect(parseFilterPattern('{$.a   NOT\tEXISTS}').expression).toMatchObject({ test: 'notExists' });
  });

  it('keeps the source text', () => {
    expect(parseFilterPattern('  {$.a=1}  ').source).toBe('  {$.a=1}  ');
  });
});

describe('parseFilterPattern: syntax errors say what and where', () => {
  it.each([
    ['', 0, /empty/],
    ['ERROR Exception', 0, /only JSON filter patterns/],
    ['[ip, user, status_code = 4*]', 0, /only JSON filter patterns/],
    ['%AUTHORIZED%', 0, /regular-expression/],
    ['{ }', 2, /expected a condition/],
    ['{ $.a = 1', 9, /expected '}'/],
    ['{ $.a = 1 } x', 12, /after the closing '}'/],
    ['{ a = 1 }', 2, /expected a selector/],
    ['{ $ = 1 }', 3, /property name after '\$'/],
    ['{ $. = 1 }', 4, /property name after '\.'/],
    ['{ $[0] = 1 }', 3, /must follow a property/],
    ['{ $.a[x] = 1 }', 6, /array index/],
    ['{ $.a[0 = 1 }', 7, /expected '\]'/],
    ['{ $.a == 1 }', 7, /expected a value/],
    ['{ $.a ~ 1 }', 6, /expected an operator/],
    ['{ $.a }', 6, /expected an operator/],
    ['{ $.a = }', 8, /expected a value/],
    ['{ $.a = "abc }', 8, /unterminated string/],
    ['{ $.a > abc }', 8, /compares numbers/],
    ['{ $.a <= "5" }', 9, /compares numbers/],
    ['{ $.a IS EMPTY }', 9, /NULL, TRUE or FALSE/],
    ['{ $.a NOT THERE }', 10, /EXISTS/],
    ['{ $.a = 1 & $.b = 2 }', 10, /'&&' or '\|\|'/],
    ['{ $.a = 1 | $.b = 2 }', 10, /'&&' or '\|\|'/],
    ['{ $.a = 1 && }', 13, /expected a selector/],
    ['{ ($.a = 1 }', 11, /expected '\)'/],
    ['{ $.a = 1) }', 9, /expected '&&', '\|\|' or '}'/],
    ['{ $.a = %ab+c% }', 8, /regular expressions/],
  ])('%j is rejected at column %i+1 (%s)', (pattern, position, message) => {
    const error = syntaxError(pattern);
    expect(error.code).toBe('FILTER_PATTERN_SYNTAX');
    expect(error.position).toBe(position);
    expect(error.message).toMatch(message);
    expect(error.message).toContain(`column ${position + 1}`);
  });

  it('the message points at the offending character', () => {
    const error = syntaxError('{ $.a > abc }');
    const lines = error.message.split('\n');
    expect(lines[1]).toBe('  { $.a > abc }');
    expect(lines[2]).toBe(`  ${' '.repeat(8)}^`);
  });

  it('carries the backupctl error brand, so BackupctlError.is() recognises it', () => {
    const error = syntaxError('nope');
    expect((error as unknown as Record<symbol, unknown>)[Symbol.for('backupctl.error')]).toBe(true);
    expect(error.source).toBe('user');
    expect(error.details).toEqual({ pattern: 'nope', position: 0 });
    expect(error.name).toBe('FilterPatternSyntaxError');
  });
});
