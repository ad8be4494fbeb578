export * from './admin-backend.js';
export * from './lifecycle.js';
