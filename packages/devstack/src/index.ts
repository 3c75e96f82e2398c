export * from './process.js';
export * from './ports.js';
export * from './secrets.js';
export * from './testbed.js';
export * from './supervisor.js';
export * from './stack.js';
export * from './components/index.js';
export * from './prerequisites.js';
