export * from './check-trail.js';
export * from './create-trail.js';
export * from './s3-data-events.js';
