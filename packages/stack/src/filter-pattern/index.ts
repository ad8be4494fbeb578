export type {
  ComparisonNode,
  EqualityOperator,
  ExpressionNode,
  FilterPattern,
  LogicalNode,
  NumberOperand,
  NumericOperator,
  Selector,
  SelectorStep,
  StringOperand,
  TestName,
  TestNode,
} from './ast.js';
export { FilterPatternSyntaxError } from './filter-pattern-syntax-error.js';
export { matchesFilterPattern } from './match-filter-pattern.js';
export { parseFilterPattern } from './parse-filter-pattern.js';
