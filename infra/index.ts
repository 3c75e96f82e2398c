/**
 * The Pulumi program. `pulumi up` runs this file (Pulumi.yaml: `main: infra/`, Node with the tsx
 * loader): it reads the stack's typed config, builds the platform model and declares the platform on
 * the stack's target, Docker (dev) or Kubernetes (prod). Every export is a stack output.
 */
import { readStackConfig } from './src/config.js';
import { definePlatform } from './src/platform.js';

const platform = definePlatform(readStackConfig());

export const target = platform.target;
export const namespace = platform.namespace;
export const endpoints = platform.endpoints;
export const canary = platform.canary;
/** Every generated credential; secret (`pulumi stack output credentials --show-secrets`). */
export const credentials = platform.credentials;
export const grafanaAdminPassword = platform.grafanaAdminPassword;
