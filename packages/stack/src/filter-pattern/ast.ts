/** The syntax tree of a CloudWatch Logs JSON filter pattern (`{ … }`). */

/** One step of a selector: a property name or an array index. */
export type SelectorStep = string | number;

export interface Selector {
  /** The selector as written, e.g. `$.users[0].email`. */
  readonly text: string;
  /** Steps from the root, e.g. `['users', 0, 'email']`. */
  readonly path: readonly SelectorStep[];
}

export type EqualityOperator = '=' | '!=';
export type NumericOperator = EqualityOperator | '<' | '>' | '<=' | '>=';

/**
 * A string operand. CloudWatch Logs honours `*` only at the start and/or end; a `*`
 * anywhere else is literal. `text` is the value with those wildcards removed.
 */
export interface StringOperand {
  readonly type: 'string';
  readonly text: string;
  readonly leadingWildcard: boolean;
  readonly trailingWildcard: boolean;
  /** Whether it was written in double quotes. */
  readonly quoted: boolean;
}

export interface NumberOperand {
  readonly type: 'number';
  readonly value: number;
  /** The literal as written, e.g. `+1000`, `10e-3`. */
  readonly text: string;
}

export interface ComparisonNode {
  readonly kind: 'comparison';
  readonly selector: Selector;
  readonly operator: NumericOperator;
  readonly operand: StringOperand | NumberOperand;
}

/** `IS NULL`, `NOT EXISTS`, `IS TRUE`, `IS FALSE`. */
export type TestName = 'isNull' | 'notExists' | 'isTrue' | 'isFalse';

export interface TestNode {
  readonly kind: 'test';
  readonly selector: Selector;
  readonly test: TestName;
}

export interface LogicalNode {
  readonly kind: 'and' | 'or';
  readonly left: ExpressionNode;
  readonly right: ExpressionNode;
}

export type ExpressionNode = ComparisonNode | TestNode | LogicalNode;

export interface FilterPattern {
  readonly kind: 'json';
  /** The pattern text it was parsed from. */
  readonly source: string;
  readonly expression: ExpressionNode;
}
