export * from './device-guards.js';
export * from './guard-middleware.js';
export * from './manifest.js';
export * from './policy.js';
