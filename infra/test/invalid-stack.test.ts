import * as pulumi from '@pulumi/pulumi';
import { describe, expect, it } from 'vitest';
import { runOffline } from '../src/offline/harness.js';

describe('a stack with bad config', () => {
  it('fails with one Pulumi error naming every bad key', async () => {
    const failure = await runOffline({ stack: 'prod', config: { 'numbering:canary.weight': '150', 'numbering:redis.masters': '2' } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(pulumi.RunError);
    const message = (failure as Error).message;
    expect(message).toMatch(/numbering:canary\.weight: .*<= 100/);
    expect(message).toMatch(/numbering:redis\.masters: .*>= 3/);
  }, 60_000);

  it('refuses an image that is not pinned, naming the key', async () => {
    const failure = await runOffline({ stack: 'dev', config: { 'numbering:redis.image': 'redis:latest', 'numbering:canary.canaryVersion': 'latest' } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(pulumi.RunError);
    expect((failure as Error).message).toMatch(/numbering:redis\.image: image "redis:latest" uses "latest"/);
    expect((failure as Error).message).toMatch(/numbering:canary\.canaryVersion: image "numbering-service:latest" uses "latest"/);
  }, 60_000);
});
