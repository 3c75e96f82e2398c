import { buildPlatform, type PlatformModel, type PlatformSecrets } from '@numbering/blueprint';
import type * as pulumi from '@pulumi/pulumi';
import { parseStackConfig } from '../../src/config.js';
import { forEachPlainString, valueOf, type OfflineRun, type RegisteredResource } from '../../src/offline/harness.js';

/** Helpers to read the graph an offline run registered. */

export const CONTAINER = 'docker:index/container:Container';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export function ofType(run: OfflineRun, type: string): RegisteredResource[] {
  return run.resources.filter((r) => r.type === type);
}

export function one(run: OfflineRun, type: string, name: string): RegisteredResource {
  const found = run.resources.filter((r) => r.type === type && r.name === name);
  if (found.length !== 1) throw new Error(`expected one ${type} named ${name}, found ${found.length}`);
  return found[0]!;
}

export const inputs = (r: RegisteredResource): Json => r.inputs;

/** The model and the credentials the run used, to render the expected files independently. */
export async function expectedWorld(run: OfflineRun): Promise<{ model: PlatformModel; secrets: PlatformSecrets }> {
  const model = buildPlatform(parseStackConfig(run.config, run.stack));
  const secrets = await valueOf(run.program.credentials as pulumi.Output<PlatformSecrets>);
  return { model, secrets };
}

/** Every place a generated password appears outside a secret marker: must stay empty. */
export function plaintextPasswordLeaks(run: OfflineRun): string[] {
  const leaks: string[] = [];
  for (const r of run.resources) {
    if (r.type.startsWith('random:')) continue;
    forEachPlainString(r.raw, (s, path) => {
      if (run.passwords.some((pw) => s.includes(pw))) leaks.push(`${r.type} ${r.name}: ${path}`);
    });
  }
  return leaks;
}

/** Whether the value at `path` (or an enclosing value) reached the engine marked secret. */
export function isSecretAt(r: RegisteredResource, path: string): boolean {
  return r.secretPaths.some((p) => p === '$' || path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`));
}

/** `tag` part of an image reference, or undefined when it has none. */
export function imageTag(ref: string): string | undefined {
  const last = ref.replace(/@sha256:[a-f0-9]{64}$/, '').split('/').pop() ?? '';
  return last.includes(':') ? last.split(':').pop() : undefined;
}
