export * from './bucket-encryption.js';
