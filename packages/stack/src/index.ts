export * from './filter-pattern/index.js';
export * from './guard-pattern.js';
export * from './replay/index.js';
