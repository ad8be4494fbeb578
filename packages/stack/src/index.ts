export * from './guard-pattern.js';
export * from './filter-pattern/index.js';
