#!/usr/bin/env -S node --import tsx
// canary weight|analyze|promote|rollback|run|abtest — see README.md or `pnpm canary help`.
import { main } from './main.js';

// Ctrl-C during `canary run` rolls back instead of leaving the canary at its current weight;
// a second Ctrl-C exits at once.
const abort = new AbortController();
process.once('SIGINT', () => {
  console.error('canary: interrupted, rolling back at the next check (Ctrl-C again to exit without rollback)');
  abort.abort();
  process.once('SIGINT', () => process.exit(130));
});

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    abort.signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });

main(process.argv.slice(2), { out: (l) => console.log(l), err: (l) => console.error(l), sleep, signal: abort.signal }).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`canary: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  },
);
