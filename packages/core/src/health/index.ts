export * from './aws-failure.js';
export * from './aws-setup.js';
export * from './classify.js';
export * from './probe.js';
export * from './quarantine-breaker.js';
export * from './quarantined-error.js';
export * from './state-store.js';
