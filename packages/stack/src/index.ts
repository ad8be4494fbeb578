export * from './guard-pattern.js';
