export * from './analysis.js';
export * from './prometheus.js';
export * from './rollout.js';
export * from './abtest.js';
export * from './targets/types.js';
export * from './targets/devstack.js';
export * from './targets/pulumi.js';
export { main, usage, UsageError, parseDuration, EXIT_OK, EXIT_FAILED, EXIT_USAGE, type MainIo } from './main.js';
