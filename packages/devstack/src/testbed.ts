import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPlatform, defaultPlatformConfig, type PlatformModel, type PlatformSecrets } from '@numbering/blueprint';
import { findFreePortOffset, modelPorts } from './ports.js';
import { generateSecrets } from './secrets.js';
import { openStack } from './stack.js';
import type { StackContext } from './components/types.js';

export interface Testbed {
  model: PlatformModel;
  secrets: PlatformSecrets;
  workdir: string;
  /** Removes the workdir; call after every daemon of the testbed has stopped. */
  dispose(): void;
}

/**
 * A devstack model in a fresh temp dir at a free port offset: what every integration test starts
 * its real daemons from. `overrides` are stack-config keys (`{'redis.nodeTimeoutMs': 2000}`).
 */
export async function createTestbed(overrides: Record<string, unknown> = {}): Promise<Testbed> {
  // Daemons running as mysql/postgres must traverse the path, so keep it world-executable.
  const workdir = mkdtempSync(join(process.env.DEVSTACK_TEST_ROOT ?? tmpdir(), 'numbering-test-'));
  chmodSync(workdir, 0o755);
  const at = (offset: number) => buildPlatform(defaultPlatformConfig('local', { ...overrides, 'local.portOffset': offset }), { workdir });
  const offset = await findFreePortOffset((o) => modelPorts(at(o)));
  const model = at(offset);
  return {
    model,
    secrets: generateSecrets(`http://${model.monitoring.webhook.host}:${model.monitoring.webhook.port}/alert`),
    workdir,
    dispose: () => rmSync(workdir, { recursive: true, force: true }),
  };
}

/**
 * A whole devstack (`openStack` + `up`) in a testbed's workdir at its port offset, with `set` on top.
 * MariaDB gets a small redo log and buffer pool: several full stacks share a 2-core CI machine.
 */
export function openTestbedStack(bed: Testbed, set: Record<string, unknown> = {}): StackContext {
  return openStack({
    workdir: bed.workdir,
    set: { 'local.portOffset': bed.model.config.local.portOffset, 'mariadb.innodbLogFileSize': '48M', 'mariadb.innodbBufferPoolSize': '128M', ...set },
  });
}
