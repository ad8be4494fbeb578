export * from './device-key.js';
export * from './keychain-store.js';
export * from './read-only-stores.js';
export * from './secret-store.js';
