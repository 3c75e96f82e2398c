export * from './process.js';
export * from './ports.js';
export * from './secrets.js';
export * from './testbed.js';
export * from './supervisor.js';
