import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configKeys, defaultPlatformConfig, parsePlatformConfig } from '@numbering/blueprint';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseStackConfig } from '../src/config.js';
import { readStackFiles } from '../src/offline/stack-files.js';
import { projectConfigDeclarations, renderPulumiYaml } from '../src/pulumi-yaml.js';
import { REPO_ROOT } from '../src/shared/service.js';

const projectFile = () => readFileSync(join(REPO_ROOT, 'Pulumi.yaml'), 'utf8');

describe('Pulumi.yaml', () => {
  it('is exactly what the schema generates (run `pnpm --filter @numbering/infra pulumi-yaml` after a schema change)', () => {
    expect(projectFile()).toBe(renderPulumiYaml());
  });

  it('runs infra/ on Node through the tsx loader, with pnpm', () => {
    const project = parse(projectFile());
    expect(project.name).toBe('numbering');
    expect(project.main).toBe('infra/');
    expect(project.runtime).toEqual({ name: 'nodejs', options: { typescript: false, nodeargs: '--import tsx', packagemanager: 'pnpm' } });
  });

  it('declares canary.weight as an integer defaulting to 0 and requires target on every stack', () => {
    const config = parse(projectFile()).config;
    expect(config['["canary.weight"]']).toMatchObject({ type: 'integer', default: 0 });
    expect(config.target).toMatchObject({ type: 'string' });
    expect(config.target.default).toBeUndefined();
  });

  it('declares only keys the blueprint knows, with types Pulumi accepts, and the schema defaults', () => {
    const known = new Set(configKeys());
    const declarations = projectConfigDeclarations();
    expect(declarations.length).toBeGreaterThan(60);
    for (const d of declarations) {
      expect(known.has(d.key), d.key).toBe(true);
      expect(['string', 'integer', 'boolean']).toContain(d.type);
    }
    // The declared defaults parse to exactly the blueprint's defaults.
    for (const target of ['docker', 'kubernetes'] as const) {
      const raw = Object.fromEntries(declarations.filter((d) => d.default !== undefined).map((d) => [d.key, String(d.default)]));
      expect(parsePlatformConfig({ ...raw, target })).toEqual(defaultPlatformConfig(target));
    }
  });
});

describe('stack files', () => {
  it('Pulumi.dev.yaml is a valid docker stack, Pulumi.prod.yaml a valid kubernetes stack', () => {
    expect(parseStackConfig(readStackFiles('dev').config, 'dev').target).toBe('docker');
    const prod = parseStackConfig(readStackFiles('prod').config, 'prod');
    expect(prod.target).toBe('kubernetes');
    // prod sizes differ from the defaults
    expect(prod.service.replicas).toBeGreaterThan(defaultPlatformConfig('kubernetes').service.replicas);
    expect(prod.redis.maxmemoryMb).toBeGreaterThan(defaultPlatformConfig('kubernetes').redis.maxmemoryMb);
  });

  it('hold only keys of our project, flat and dotted as `pulumi config set` writes them', () => {
    const known = new Set(configKeys());
    for (const stack of ['dev', 'prod']) {
      const file = parse(readFileSync(join(REPO_ROOT, `Pulumi.${stack}.yaml`), 'utf8')) as { config: Record<string, unknown> };
      for (const key of Object.keys(file.config)) {
        expect(key, `${stack}: ${key}`).toMatch(/^numbering:/);
        const dotted = key.slice('numbering:'.length);
        expect(known.has(dotted) || dotted.startsWith('alerting.'), `${stack}: ${key}`).toBe(true);
      }
    }
  });
});
