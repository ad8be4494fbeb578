import type {
  ComparisonNode,
  ExpressionNode,
  FilterPattern,
  NumberOperand,
  NumericOperator,
  Selector,
  SelectorStep,
  StringOperand,
  TestNode,
} from './ast.js';
import { FilterPatternSyntaxError } from './filter-pattern-syntax-error.js';

/**
 * Parses a CloudWatch Logs JSON filter pattern, e.g.
 * `{ ($.errorCode = "AccessDenied*") && $.userIdentity.type = IAMUser }`.
 *
 * Grammar (AWS, "Filter pattern syntax … JSON log events"; precedence `()` > `&&` > `||`):
 *
 *     pattern    := "{" or "}"
 *     or         := and ("||" and)*
 *     and        := primary ("&&" primary)*
 *     primary    := "(" or ")" | condition
 *     condition  := selector ( op value | "IS" ("NULL" | "TRUE" | "FALSE") | "NOT" "EXISTS" )
 *     selector   := "$" ("." name | "[" digits "]")+      name := [A-Za-z0-9_-]+, first step a name
 *     op         := "=" | "!=" | "<" | ">" | "<=" | ">="  (the last four need a number)
 *     value      := "\"" chars "\"" | bare word            a bare word that reads as a number is one
 *
 * Only JSON patterns are supported: term, space-delimited and `%regex%` patterns are
 * rejected with a {@link FilterPatternSyntaxError}, as is anything else malformed.
 */
export function parseFilterPattern(text: string): FilterPattern {
  return new Parser(text).parsePattern();
}

const NAME_CHAR = /[A-Za-z0-9_-]/;
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
/** Characters that end a bare (unquoted) value. */
const BARE_END = /[\s(){}"&|=!<>]/;
const KEYWORD = /^[A-Za-z]+/;

class Parser {
  private pos = 0;

  constructor(private readonly src: string) {}

  parsePattern(): FilterPattern {
    this.skipSpace();
    if (this.pos >= this.src.length) this.fail('the pattern is empty; a JSON filter pattern is `{ … }`');
    if (this.peek() === '%') this.fail('regular-expression patterns (%…%) are not supported');
    if (this.peek() !== '{') {
      this.fail("expected '{': only JSON filter patterns (`{ $.field = value }`) are supported");
    }
    this.pos++;
    this.skipSpace();
    if (this.peek() === '}') this.fail('expected a condition inside { }');
    const expression = this.parseOr();
    this.skipSpace();
    if (this.peek() !== '}') {
      if (this.pos >= this.src.length) this.fail("expected '}' to close the pattern");
      this.failUnexpected("expected '&&', '||' or '}'");
    }
    this.pos++;
    this.skipSpace();
    if (this.pos < this.src.length) this.failUnexpected("unexpected text after the closing '}'");
    return { kind: 'json', source: this.src, expression };
  }

  private parseOr(): ExpressionNode {
    let left = this.parseAnd();
    for (;;) {
      this.skipSpace();
      if (!this.src.startsWith('||', this.pos)) return left;
      this.pos += 2;
      left = { kind: 'or', left, right: this.parseAnd() };
    }
  }

  private parseAnd(): ExpressionNode {
    let left = this.parsePrimary();
    for (;;) {
      this.skipSpace();
      if (!this.src.startsWith('&&', this.pos)) {
        if (this.peek() === '&' || (this.peek() === '|' && !this.src.startsWith('||', this.pos))) {
          this.fail(`'${this.peek()}' is not an operator; use '&&' or '||'`);
        }
        return left;
      }
      this.pos += 2;
      left = { kind: 'and', left, right: this.parsePrimary() };
    }
  }

  private parsePrimary(): ExpressionNode {
    this.skipSpace();
    if (this.peek() === '(') {
      const open = this.pos;
      this.pos++;
      const inner = this.parseOr();
      this.skipSpace();
      if (this.peek() !== ')') {
        if (this.pos >= this.src.length || this.peek() === '}') {
          this.fail(`expected ')' to close the '(' at column ${open + 1}`);
        }
        this.failUnexpected("expected '&&', '||' or ')'");
      }
      this.pos++;
      return inner;
    }
    return this.parseCondition();
  }

  private parseCondition(): ComparisonNode | TestNode {
    const selector = this.parseSelector();
    this.skipSpace();
    const keywordAt = this.pos;
    const keyword = this.readKeyword();
    if (keyword === 'IS') {
      this.skipSpace();
      const whatAt = this.pos;
      const what = this.readKeyword();
      const test =
        what === 'NULL' ? 'isNull' : what === 'TRUE' ? 'isTrue' : what === 'FALSE' ? 'isFalse' : null;
      if (test === null) this.fail("expected NULL, TRUE or FALSE after 'IS'", whatAt);
      return { kind: 'test', selector, test };
    }
    if (keyword === 'NOT') {
      this.skipSpace();
      const existsAt = this.pos;
      if (this.readKeyword() !== 'EXISTS') this.fail("expected EXISTS after 'NOT'", existsAt);
      return { kind: 'test', selector, test: 'notExists' };
    }
    this.pos = keywordAt;
    const operator = this.readOperator();
    this.skipSpace();
    const operand = this.parseOperand();
    if (operator !== '=' && operator !== '!=' && operand.operand.type !== 'number') {
      this.fail(`'${operator}' compares numbers; ${operand.raw} is not a number`, operand.at);
    }
    return { kind: 'comparison', selector, operator, operand: operand.operand };
  }

  private parseSelector(): Selector {
    const start = this.pos;
    if (this.peek() !== '$') {
      this.failUnexpected("expected a selector such as '$.eventName' or '('");
    }
    this.pos++;
    const path: SelectorStep[] = [];
    for (;;) {
      const c = this.peek();
      if (c === '.') {
        this.pos++;
        const nameStart = this.pos;
        while (this.pos < this.src.length && NAME_CHAR.test(this.src[this.pos]!)) this.pos++;
        if (this.pos === nameStart) this.fail("expected a property name after '.'");
        path.push(this.src.slice(nameStart, this.pos));
      } else if (c === '[') {
        if (path.length === 0) this.fail("an array index must follow a property, as in '$.items[0]'");
        this.pos++;
        const digitsStart = this.pos;
        while (this.pos < this.src.length && /\d/.test(this.src[this.pos]!)) this.pos++;
        if (this.pos === digitsStart) this.fail("expected an array index (digits) after '['");
        const index = Number(this.src.slice(digitsStart, this.pos));
        if (this.peek() !== ']') this.fail("expected ']' after the array index");
        this.pos++;
        path.push(index);
      } else {
        break;
      }
    }
    if (path.length === 0) this.fail("expected '.' and a property name after '$'");
    return { text: this.src.slice(start, this.pos), path };
  }

  private readOperator(): NumericOperator {
    for (const op of ['!=', '<=', '>=', '=', '<', '>'] as const) {
      if (this.src.startsWith(op, this.pos)) {
        this.pos += op.length;
        return op;
      }
    }
    if (this.pos >= this.src.length) this.fail('expected an operator (=, !=, <, >, <=, >=, IS, NOT EXISTS)');
    return this.failUnexpected('expected an operator (=, !=, <, >, <=, >=, IS …, NOT EXISTS)');
  }

  private parseOperand(): { operand: StringOperand | NumberOperand; at: number; raw: string } {
    const at = this.pos;
    if (this.peek() === '"') {
      this.pos++;
      let value = '';
      for (;;) {
        if (this.pos >= this.src.length) this.fail("unterminated string: expected a closing '\"'", at);
        const c = this.src[this.pos]!;
        this.pos++;
        if (c === '"') break;
        if (c === '\\' && this.pos < this.src.length) {
          value += this.src[this.pos];
          this.pos++;
        } else {
          value += c;
        }
      }
      return { operand: stringOperand(value, true), at, raw: this.src.slice(at, this.pos) };
    }
    while (this.pos < this.src.length && !BARE_END.test(this.src[this.pos]!)) this.pos++;
    const raw = this.src.slice(at, this.pos);
    if (raw === '') {
      if (this.peek() === '%') this.fail('regular expressions (%…%) are not supported', at);
      if (this.pos >= this.src.length) this.fail('expected a value', at);
      this.failUnexpected('expected a value');
    }
    if (raw.startsWith('%')) this.fail('regular expressions (%…%) are not supported', at);
    if (NUMBER.test(raw)) return { operand: { type: 'number', value: Number(raw), text: raw }, at, raw };
    return { operand: stringOperand(raw, false), at, raw };
  }

  /** Reads an upper-cased run of letters (a keyword) or returns '' if there is none. */
  private readKeyword(): string {
    const match = KEYWORD.exec(this.src.slice(this.pos));
    if (!match) return '';
    this.pos += match[0].length;
    return match[0].toUpperCase();
  }

  private skipSpace(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos]!)) this.pos++;
  }

  private peek(): string | undefined {
    return this.src[this.pos];
  }

  private fail(reason: string, at = this.pos): never {
    throw new FilterPatternSyntaxError(reason, this.src, at);
  }

  private failUnexpected(reason: string): never {
    const found = this.pos >= this.src.length ? 'end of pattern' : JSON.stringify(this.src[this.pos]);
    return this.fail(`${reason}, found ${found}`);
  }
}

function stringOperand(raw: string, quoted: boolean): StringOperand {
  if (raw === '*') return { type: 'string', text: '', leadingWildcard: true, trailingWildcard: true, quoted };
  const leadingWildcard = raw.startsWith('*');
  const trailingWildcard = raw.length > 1 && raw.endsWith('*');
  const text = raw.slice(leadingWildcard ? 1 : 0, trailingWildcard ? -1 : undefined);
  return { type: 'string', text, leadingWildcard, trailingWildcard, quoted };
}
