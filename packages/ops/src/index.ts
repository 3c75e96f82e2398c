export * from './command.js';
export * from './context.js';
export * from './main.js';
export { commands } from './commands/index.js';
