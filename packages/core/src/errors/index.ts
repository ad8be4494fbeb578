export * from './backupctl-error.js';
