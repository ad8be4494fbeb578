export * from './backupctl-error.js';
export * from './system-error.js';
