import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { PROJECT } from '../config.js';
import { REPO_ROOT } from '../shared/service.js';

export interface StackFileConfig {
  /** `numbering:canary.weight` -> "30": what the program would get from Pulumi. */
  config: Record<string, string>;
  /** Keys stored encrypted (`secure:`); offline they get a placeholder value and are marked secret. */
  secretKeys: string[];
}

const bracketed = /^\["(.+)"\]$/;
const toText = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));

/**
 * The config a stack's program would see: Pulumi.yaml's project defaults overlaid with
 * Pulumi.<stack>.yaml, read from the files themselves (no CLI, no backend). Encrypted values cannot
 * be decrypted offline and are replaced by `offline-secret-<key>`.
 */
export function readStackFiles(stack: string, root = REPO_ROOT): StackFileConfig {
  const project = parse(readFileSync(join(root, 'Pulumi.yaml'), 'utf8')) as { name: string; config?: Record<string, unknown> };
  const projectName = project.name ?? PROJECT;
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [rawKey, declaration] of Object.entries(project.config ?? {})) {
    const key = bracketed.exec(rawKey)?.[1] ?? rawKey;
    const full = key.includes(':') ? key : `${projectName}:${key}`;
    if (declaration !== null && typeof declaration === 'object' && !Array.isArray(declaration)) {
      const d = declaration as { default?: unknown; value?: unknown };
      const value = d.value ?? d.default;
      if (value !== undefined) config[full] = toText(value);
    } else if (declaration !== undefined) {
      config[full] = toText(declaration);
    }
  }
  const stackFile = join(root, `Pulumi.${stack}.yaml`);
  if (!existsSync(stackFile)) throw new Error(`no stack file ${stackFile}`);
  const stackConfig = (parse(readFileSync(stackFile, 'utf8')) as { config?: Record<string, unknown> } | null)?.config ?? {};
  for (const [key, value] of Object.entries(stackConfig)) {
    if (value !== null && typeof value === 'object' && 'secure' in (value as object)) {
      config[key] = `offline-secret-${key.replace(/[^A-Za-z0-9]+/g, '-')}`;
      secretKeys.push(key);
    } else {
      config[key] = toText(value);
    }
  }
  return { config, secretKeys };
}
