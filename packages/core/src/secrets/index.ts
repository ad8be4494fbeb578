export * from './keychain-store.js';
export * from './read-only-stores.js';
export * from './secret-store.js';
export * from './device-key.js';
