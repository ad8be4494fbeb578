export * from './admin-clients.js';
export * from './deploy-stack.js';
export * from './stack-error.js';
