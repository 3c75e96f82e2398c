import { ConfigError } from '@numbering/blueprint';
import { createTestbed, type Testbed } from '@numbering/devstack';

/**
 * createTestbed(), retried while it draws a port offset the config schema rejects: findFreePortOffset
 * tries offsets up to 40000, `local.portOffset` allows at most 20000 (reported to the devstack owner;
 * drop this wrapper once the two agree).
 */
export async function canaryTestbed(overrides: Record<string, unknown> = {}): Promise<Testbed> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await createTestbed(overrides);
    } catch (e) {
      const offsetRejected = e instanceof ConfigError && e.problems.some((p) => p.key === 'local.portOffset');
      if (!offsetRejected || attempt >= 20) throw e;
    }
  }
}
