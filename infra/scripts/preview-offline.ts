/**
 * Prints the resource table `pulumi preview` would show for a stack, from the SDK mocks: no CLI, no
 * Docker engine, no cluster. The program really runs (config parsing, every renderer, every
 * resource), so a broken stack fails here the way it would fail in `pulumi preview`.
 *   pnpm preview:offline dev|prod [--counts]
 */
import * as pulumi from '@pulumi/pulumi';
import { runOffline } from '../src/offline/harness.js';
import { countByType, renderPreviewTable } from '../src/offline/table.js';

const stack = process.argv.slice(2).find((a) => !a.startsWith('-'));
if (!stack) {
  console.error('usage: pnpm preview:offline <stack> [--counts]   (stacks: dev, prod)');
  process.exit(2);
}
try {
  const run = await runOffline({ stack });
  console.log(renderPreviewTable(run));
  if (process.argv.includes('--counts')) {
    console.log('\nBy type:');
    for (const [type, n] of Object.entries(countByType(run))) console.log(`  ${String(n).padStart(4)}  ${type}`);
  }
} catch (e) {
  // A RunError is the message the CLI would print (e.g. the list of bad config keys), without a stack trace.
  console.error(e instanceof pulumi.RunError ? `error: ${e.message}` : e);
  process.exit(1);
}
