#!/usr/bin/env -S node --import tsx
// devstack up | down | status | config [key=value ...] — the platform as local processes on 127.0.0.1.
import { ConfigError } from '@numbering/blueprint';
import { checkPrerequisites } from './prerequisites.js';
import { down, openStack, status, up } from './stack.js';

const usage = `usage: pnpm devstack <command>
  up [key=value ...]    start (or converge) the whole platform; keys are stack config (e.g. canary.weight=30)
  status                health of every component
  down                  stop everything (data is kept for the next up)
  config [key=value]    show or set persisted stack config
env: DEVSTACK_DIR (default <repo>/.devstack)`;

function parseSets(args: string[]): Record<string, unknown> | undefined {
  if (!args.length) return undefined;
  return Object.fromEntries(
    args.map((a) => {
      const i = a.indexOf('=');
      if (i < 1) throw new Error(`expected key=value, got ${JSON.stringify(a)}`);
      return [a.slice(0, i), a.slice(i + 1)];
    }),
  );
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'up': {
      checkPrerequisites();
      const ctx = openStack({ set: parseSets(rest) });
      console.log(`devstack: starting in ${ctx.workdir}`);
      await up(ctx, ({ component, step, elapsedMs }) => console.log(`[${(elapsedMs / 1000).toFixed(1).padStart(5)} s] ${component.padEnd(12)} ${step}`));
      printHealth(await status(ctx));
      const entry = ctx.model.canary.listen;
      console.log(`\nnumbering API through the canary split: http://${entry.host}:${entry.port}/v1/...  (admin token in ${ctx.workdir}/secrets.json)`);
      return 0;
    }
    case 'status': {
      const lines = await status(openStack());
      printHealth(lines);
      return lines.every((l) => l.ok) ? 0 : 1;
    }
    case 'down': {
      const ctx = openStack();
      await down(ctx);
      console.log(`devstack: stopped; data kept in ${ctx.workdir}`);
      return 0;
    }
    case 'config': {
      const ctx = openStack({ set: parseSets(rest) });
      console.log(JSON.stringify({ canary: ctx.model.config.canary, local: ctx.model.config.local }, null, 2));
      return 0;
    }
    default:
      console.log(usage);
      return command ? 2 : 0;
  }
}

function printHealth(lines: { name: string; ok: boolean; detail: string }[]) {
  for (const l of lines) console.log(`${l.ok ? ' ok ' : 'FAIL'}  ${l.name.padEnd(24)} ${l.detail}`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof ConfigError ? e.message : `devstack: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  },
);
