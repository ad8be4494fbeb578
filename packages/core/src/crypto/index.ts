export * from './cipher.js';
export * from './keys.js';
