#!/usr/bin/env -S node --import tsx
// pnpm ops <command> — see README.md or `pnpm ops help`.
import { createInterface } from 'node:readline/promises';
import { main } from './main.js';

const io = {
  out: (line: string) => console.log(line),
  err: (line: string) => console.error(line),
  async confirm(question: string): Promise<boolean> {
    if (!process.stdin.isTTY) {
      console.error(`${question} [y/N] — no terminal to answer on; pass --yes to proceed`);
      return false;
    }
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
    } finally {
      rl.close();
    }
  },
  progress: (step: string, detail?: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${step}${detail ? `: ${detail}` : ''}`),
};

main(process.argv.slice(2), io).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`ops: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  },
);
