import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as pulumi from '@pulumi/pulumi';
import { PROJECT } from '../config.js';
import { REPO_ROOT } from '../shared/service.js';
import { readStackFiles } from './stack-files.js';

/**
 * Runs the real Pulumi program (infra/index.ts) under the SDK's mocks: no CLI, no engine, no
 * provider plugins. Every resource the program registers is recorded with its inputs exactly as the
 * engine would receive them (secret values still wrapped), plus its parent, so tests can assert on
 * the whole graph and `pnpm preview:offline` can print the table a `pulumi preview` would show.
 */

/** How the SDK marks a secret value on the wire (runtime/rpc: specialSigKey / specialSecretSig). */
const SIG_KEY = pulumi.runtime.specialSigKey;
const SECRET_SIG = pulumi.runtime.specialSecretSig;

export interface RegisteredResource {
  type: string;
  name: string;
  custom: boolean;
  /** Inputs with secret markers removed (what the resource is given). */
  inputs: Record<string, unknown>;
  /** Inputs as the engine gets them: secret values wrapped in `{[sig]: secret, value}`. */
  raw: Record<string, unknown>;
  /** Property paths whose value arrived secret. */
  secretPaths: string[];
  /** Parent (type and name); undefined only for the stack itself. */
  parent?: { type: string; name: string };
}

export interface OfflineRun {
  stack: string;
  resources: RegisteredResource[];
  /** Every value the mocked `random.RandomPassword`s produced: none may appear outside a secret. */
  passwords: string[];
  /** Every PEM the mocked `tls.PrivateKey`s produced: none may appear outside a secret either. */
  privateKeys: string[];
  /** The program module's exports (stack outputs as Outputs). */
  program: Record<string, unknown>;
  /** The stack outputs as the engine would store them (resolved, secrets unwrapped). */
  outputs: Record<string, unknown>;
  config: Record<string, string>;
}

export interface OfflineOptions {
  stack: string;
  /** Overrides on top of Pulumi.yaml + Pulumi.<stack>.yaml, as namespaced keys (`numbering:canary.weight`). */
  config?: Record<string, string>;
  /** Keys of `config` that are secrets (`pulumi config set --secret`). */
  secretKeys?: string[];
  /** Leave out the stack files (tests that want only their own config). */
  ignoreStackFiles?: boolean;
}

export const isSecretWrapper = (v: unknown): v is { value: unknown } =>
  typeof v === 'object' && v !== null && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;

/** Removes secret markers, collecting the paths where they were. */
export function unwrapSecrets(value: unknown, path = '', secretPaths: string[] = []): unknown {
  if (isSecretWrapper(value)) {
    secretPaths.push(path || '$');
    return unwrapSecrets(value.value, path, secretPaths);
  }
  if (Array.isArray(value)) return value.map((v, i) => unwrapSecrets(v, `${path}[${i}]`, secretPaths));
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v, path ? `${path}.${k}` : k, secretPaths)]));
  }
  return value;
}

/** Calls `visit` for every string in `raw` that is NOT inside a secret marker. */
export function forEachPlainString(raw: unknown, visit: (s: string, path: string) => void, path = ''): void {
  if (isSecretWrapper(raw)) return;
  if (typeof raw === 'string') visit(raw, path);
  else if (Array.isArray(raw)) raw.forEach((v, i) => forEachPlainString(v, visit, `${path}[${i}]`));
  else if (raw !== null && typeof raw === 'object') for (const [k, v] of Object.entries(raw)) forEachPlainString(v, visit, path ? `${path}.${k}` : k);
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** What the providers would compute, where the program reads it back (IDs, generated values). */
function providerOutputs(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  switch (type) {
    case 'random:index/randomPassword:RandomPassword': {
      const length = Number(inputs.length ?? 32);
      // Alphanumeric like the real ones (special: false), unique per resource.
      let result = `Mock${sha(name)}${sha(`${name}!`)}`.replace(/[^A-Za-z0-9]/g, '');
      result = (result.slice(0, 2).toUpperCase() + result.slice(2)).slice(0, length);
      return { result, bcryptHash: `$2a$10$${sha(result).slice(0, 53)}` };
    }
    case 'docker:index/remoteImage:RemoteImage':
      return { imageId: `sha256:${sha(String(inputs.name))}`, repoDigest: `${String(inputs.name).split(':')[0]}@sha256:${sha(String(inputs.name))}` };
    case 'docker:index/image:Image':
      return { repoDigest: `sha256:${sha(`built:${String(inputs.imageName)}`)}`, baseImageName: inputs.imageName, context: (inputs.build as { context?: string } | undefined)?.context };
    // PEM-shaped stand-ins, unique per resource: tests check that no private key leaves a secret.
    case 'tls:index/privateKey:PrivateKey':
      return { privateKeyPem: mockPem('PRIVATE KEY', `key:${name}`), publicKeyPem: mockPem('PUBLIC KEY', `pub:${name}`) };
    case 'tls:index/certRequest:CertRequest':
      return { certRequestPem: mockPem('CERTIFICATE REQUEST', `csr:${name}`) };
    case 'tls:index/selfSignedCert:SelfSignedCert':
    case 'tls:index/locallySignedCert:LocallySignedCert':
      return { certPem: mockPem('CERTIFICATE', `cert:${name}`) };
    default:
      return {};
  }
}

const mockPem = (label: string, seed: string) => `-----BEGIN ${label}-----\nMOCK${sha(seed)}\n-----END ${label}-----\n`;

let runs = 0;

export async function runOffline(options: OfflineOptions): Promise<OfflineRun> {
  const files = options.ignoreStackFiles ? { config: {}, secretKeys: [] } : readStackFiles(options.stack);
  const config = { ...files.config, ...options.config };
  const secretKeys = [...files.secretKeys, ...(options.secretKeys ?? [])];
  pulumi.runtime.setAllConfig(config, secretKeys);

  const records: RegisteredResource[] = [];
  const passwords: string[] = [];
  const privateKeys: string[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource: (args: pulumi.runtime.MockResourceArgs) => {
        const secretPaths: string[] = [];
        const inputs = unwrapSecrets(args.inputs, '', secretPaths) as Record<string, unknown>;
        const outputs = providerOutputs(args.type, args.name, inputs);
        if (typeof outputs.result === 'string' && args.type.startsWith('random:')) passwords.push(outputs.result);
        if (typeof outputs.privateKeyPem === 'string') privateKeys.push(outputs.privateKeyPem);
        records.push({ type: args.type, name: args.name, custom: args.custom ?? true, inputs, raw: args.inputs, secretPaths });
        return { id: args.custom === false ? undefined : `${args.name}-id`, state: { ...args.inputs, ...outputs } };
      },
      call: (args: pulumi.runtime.MockCallArgs) => args.inputs,
    },
    PROJECT,
    options.stack,
    false,
  );

  // Parents come from the SDK's own resource objects: a stack transformation sees every resource
  // (components included) with its parent before it is registered.
  const parentOf = new Map<object, { type: string; name: string; parent?: object }>();
  let program: Record<string, unknown> = {};
  let failure: { error: unknown } | undefined;
  const entry = pathToFileURL(join(REPO_ROOT, 'infra', 'index.ts')).href;
  runs += 1;
  const outputs = (await pulumi.runtime.runInPulumiStack(async () => {
    pulumi.runtime.registerStackTransformation((a) => {
      parentOf.set(a.resource, { type: a.type, name: a.name, parent: a.opts.parent });
      return undefined;
    });
    // A fresh module instance per run: the program reads its config when it is evaluated.
    try {
      program = (await import(runs === 1 ? entry : `${entry}?run=${runs}`)) as Record<string, unknown>;
    } catch (e) {
      // Let the stack finish (an empty one) and rethrow below, as the CLI reports a failed program.
      failure = { error: e };
      return {};
    }
    return { ...program };
  })) as Record<string, unknown>;
  const waitForRPCs = (pulumi.runtime as unknown as { waitForRPCs?: () => Promise<void> }).waitForRPCs;
  await waitForRPCs?.();
  if (failure) throw failure.error;

  const stackName = `${PROJECT}-${options.stack}`;
  const key = (type: string, name: string) => `${type}::${name}`;
  const known = new Map<string, RegisteredResource>();
  for (const r of records) {
    const k = key(r.type, r.name);
    if (known.has(k)) throw new Error(`two resources of type ${r.type} are both named ${r.name}: Pulumi would refuse the duplicate URN or confuse them in the table`);
    known.set(k, r);
  }
  for (const { type, name, parent } of parentOf.values()) {
    const record = known.get(key(type, name));
    if (!record) continue;
    const p = parent ? parentOf.get(parent) : undefined;
    record.parent = p ? { type: p.type, name: p.name } : { type: 'pulumi:pulumi:Stack', name: stackName };
  }
  return { stack: options.stack, resources: records, passwords, privateKeys, program, outputs, config };
}

/** Resolves an Output's value (mocks run applies even though this is not a preview). */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((v) => resolve(v)));
}

/** Whether an Output is marked secret. */
export function secretnessOf(output: pulumi.Output<unknown>): Promise<boolean> {
  return pulumi.isSecret(output);
}
