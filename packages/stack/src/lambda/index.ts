export * from './quarantine-event.js';
export * from './quarantine-handler-source.js';
