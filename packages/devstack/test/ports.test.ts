import { describe, expect, it } from 'vitest';
import { ConfigError } from '@numbering/blueprint';
import { FETCH_BLOCKED_PORTS, findFreePortOffset, openStack } from '../src/index.js';

describe('port offsets', () => {
  it('never picks an offset that puts a port where fetch refuses to connect', async () => {
    // Offset 2000 would put nginx (8080) on 10080; the only other candidate is fine.
    const offset = await findFreePortOffset((o) => [8080 + o], { min: 2000, max: 2100 });
    expect(offset).toBe(2100);
    expect(FETCH_BLOCKED_PORTS.has(8080 + 2000)).toBe(true);
  });

  it('refuses a devstack offset with a blocked port, naming local.portOffset', () => {
    expect(() => openStack({ workdir: '/tmp/numbering-port-check', set: { 'local.portOffset': 2000 } })).toThrow(ConfigError);
    expect(() => openStack({ workdir: '/tmp/numbering-port-check', set: { 'local.portOffset': 2000 } })).toThrow(/local\.portOffset.*10080/);
  });
});
