// `pnpm bench <name> [args]`: runs the benchmark `<name>` found under services/*/bench or packages/*/bench.
// Benchmarks print figures and ratios; they never pass or fail on speed.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const benches = new Map<string, string>();
for (const group of ['services', 'packages']) {
  for (const pkg of readdirSync(join(root, group))) {
    const dir = join(root, group, pkg, 'bench');
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir)) if (file.endsWith('.ts')) benches.set(file.replace(/\.ts$/, ''), join(dir, file));
  }
}
const [name, ...args] = process.argv.slice(2);
if (!name || !benches.has(name)) {
  console.error(`usage: pnpm bench <name> [args]\navailable: ${[...benches.keys()].sort().join(', ') || '(none)'}`);
  process.exit(name ? 2 : 0);
}
const result = spawnSync(process.execPath, ['--import', 'tsx', benches.get(name)!, ...args], { stdio: 'inherit', cwd: root });
process.exit(result.status ?? 1);
