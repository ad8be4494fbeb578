export * from './cfn.js';
export * from './console-links.js';
export * from './device-stack.js';
export * from './device-template.js';
export * from './guard-template.js';
export * from './render.js';
