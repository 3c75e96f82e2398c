/**
 * Writes Pulumi.yaml (repository root) from the typed platform config; `--check` only reports drift.
 *   pnpm --filter @numbering/infra pulumi-yaml [--check]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderPulumiYaml } from '../src/pulumi-yaml.js';
import { REPO_ROOT } from '../src/shared/service.js';

const file = join(REPO_ROOT, 'Pulumi.yaml');
const wanted = renderPulumiYaml();
let current = '';
try {
  current = readFileSync(file, 'utf8');
} catch {
  current = '';
}
if (process.argv.includes('--check')) {
  if (current !== wanted) {
    console.error(`${file} differs from the schema; run: pnpm --filter @numbering/infra pulumi-yaml`);
    process.exit(1);
  }
  console.log(`${file} is up to date`);
} else {
  writeFileSync(file, wanted);
  console.log(`${current === wanted ? 'unchanged' : 'wrote'} ${file}`);
}
