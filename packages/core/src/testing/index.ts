// Test helpers shipped with the SDK (`@backupctl/core/testing`): no test framework inside.
export * from './faulty-backend.js';
export * from './memory-backend.js';
