import type {
  ComparisonNode,
  ExpressionNode,
  FilterPattern,
  SelectorStep,
  StringOperand,
  TestNode,
} from './ast.js';
import { parseFilterPattern } from './parse-filter-pattern.js';

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Whether a log event matches a JSON filter pattern, the way CloudWatch Logs decides it.
 *
 * `event` is the parsed JSON object, or its text (as a log event message). Anything that
 * is not a JSON object matches no JSON pattern.
 *
 * Semantics (AWS, "Filter pattern syntax … Using filter patterns to match terms in JSON
 * log events"), including the ones that surprise:
 * - A comparison (`=`, `!=`, `<`, …) holds only if the selector reaches a value node, a
 *   string or a number. If the property is missing, or is an object, an array, `null` or
 *   a boolean, both `=` and `!=` are false: `{ $.errorCode != "x" }` does NOT match an
 *   event without `errorCode` (use `NOT EXISTS` for that).
 * - `*` is a wildcard only at the start and/or end of a string (`*Event`, `Event*`,
 *   `*vent*`, `*` = any value); in the middle it is literal (`Ev*ent` matches only
 *   "Ev*ent"). Matching is case-sensitive.
 * - A number operand compares numerically with a number, or with a string that reads as
 *   a number (`"123456789012"`); against any other string `=` is false and `!=` true, and
 *   `<`, `>`, `<=`, `>=` are false. A string operand against a number compares with the
 *   number's JSON text.
 * - `IS NULL` holds for an explicit `null`; `NOT EXISTS` for a missing property (a
 *   property set to `null` exists); `IS TRUE` / `IS FALSE` for the JSON booleans only.
 */
export function matchesFilterPattern(pattern: FilterPattern | string, event: unknown): boolean {
  const ast = typeof pattern === 'string' ? parseFilterPattern(pattern) : pattern;
  let root = event;
  if (typeof root === 'string') {
    try {
      root = JSON.parse(root);
    } catch {
      return false;
    }
  }
  if (!isObject(root)) return false;
  return evaluate(ast.expression, root);
}

function evaluate(node: ExpressionNode, root: Record<string, unknown>): boolean {
  switch (node.kind) {
    case 'and':
      return evaluate(node.left, root) && evaluate(node.right, root);
    case 'or':
      return evaluate(node.left, root) || evaluate(node.right, root);
    case 'test':
      return evaluateTest(node, root);
    case 'comparison':
      return evaluateComparison(node, root);
  }
}

function evaluateTest(node: TestNode, root: Record<string, unknown>): boolean {
  const found = resolve(root, node.selector.path);
  switch (node.test) {
    case 'notExists':
      return !found.exists;
    case 'isNull':
      return found.exists && found.value === null;
    case 'isTrue':
      return found.exists && found.value === true;
    case 'isFalse':
      return found.exists && found.value === false;
  }
}

function evaluateComparison(node: ComparisonNode, root: Record<string, unknown>): boolean {
  const found = resolve(root, node.selector.path);
  if (!found.exists) return false;
  const value = found.value;
  if (typeof value !== 'string' && typeof value !== 'number') return false;
  const { operator, operand } = node;

  if (operand.type === 'number') {
    const actual = typeof value === 'number' ? value : NUMBER.test(value) ? Number(value) : undefined;
    if (actual === undefined) return operator === '!=';
    switch (operator) {
      case '=':
        return actual === operand.value;
      case '!=':
        return actual !== operand.value;
      case '<':
        return actual < operand.value;
      case '>':
        return actual > operand.value;
      case '<=':
        return actual <= operand.value;
      case '>=':
        return actual >= operand.value;
    }
  }

  const matched = matchesString(operand, typeof value === 'number' ? JSON.stringify(value) : value);
  return operator === '=' ? matched : !matched;
}

function matchesString(operand: StringOperand, value: string): boolean {
  const { text, leadingWildcard, trailingWildcard } = operand;
  if (leadingWildcard && trailingWildcard) return value.includes(text);
  if (leadingWildcard) return value.endsWith(text);
  if (trailingWildcard) return value.startsWith(text);
  return value === text;
}

function resolve(
  root: Record<string, unknown>,
  path: readonly SelectorStep[],
): { exists: true; value: unknown } | { exists: false } {
  let current: unknown = root;
  for (const step of path) {
    if (typeof step === 'number') {
      if (!Array.isArray(current) || step >= current.length) return { exists: false };
      current = current[step];
    } else {
      if (!isObject(current) || !Object.hasOwn(current, step)) return { exists: false };
      current = current[step];
    }
  }
  return { exists: true, value: current };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
