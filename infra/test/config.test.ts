import * as pulumi from '@pulumi/pulumi';
import { ConfigError, buildPlatform, defaultPlatformConfig } from '@numbering/blueprint';
import { describe, expect, it } from 'vitest';
import { parseStackConfig, platformConfigInput, stackConfigErrorMessage } from '../src/config.js';
import { mebibytes, mariaDbSize, redisSize } from '../src/kubernetes/sizing.js';
import { imageSlug, pinnedImage } from '../src/shared/images.js';
import { etcdArgs, etcdMembers } from '../src/shared/postgres.js';

const runError = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(pulumi.RunError);
    return (e as Error).message;
  }
  throw new Error('expected a RunError');
};

describe('reading the stack config', () => {
  it('takes our project keys as `pulumi config set` stores them and ignores other namespaces', () => {
    const input = platformConfigInput({ 'numbering:canary.weight': '30', 'numbering:target': 'docker', 'kubernetes:context': 'kind', 'docker:host': 'unix:///x' });
    expect(input).toEqual({ 'canary.weight': '30', target: 'docker' });
    expect(parseStackConfig({ 'numbering:canary.weight': '30', 'numbering:target': 'docker' }, 'dev').canary.weight).toBe(30);
  });

  it('flattens a section set with --path (Pulumi hands it over as JSON)', () => {
    expect(platformConfigInput({ 'numbering:canary': '{"weight":75,"canaryVersion":"2.0.0"}' })).toEqual({ 'canary.weight': 75, 'canary.canaryVersion': '2.0.0' });
  });

  it('refuses a key set both flat and with --path to different values, naming both ways to remove one', () => {
    expect(() => platformConfigInput({ 'numbering:canary.weight': '30', 'numbering:canary': '{"weight":40}' })).toThrow(ConfigError);
    try {
      platformConfigInput({ 'numbering:canary.weight': '30', 'numbering:canary': '{"weight":40}' });
    } catch (e) {
      expect((e as ConfigError).problems).toEqual([expect.objectContaining({ key: 'canary.weight', message: expect.stringContaining('pulumi config rm --path canary.weight') })]);
    }
    // The same value both ways is no conflict.
    expect(platformConfigInput({ 'numbering:canary.weight': '30', 'numbering:canary': '{"weight":30}' })).toEqual({ 'canary.weight': '30' });
  });

  it('treats a default in Pulumi.yaml bracket form as lower priority than the stack value', () => {
    expect(platformConfigInput({ 'numbering:["canary.weight"]': '0', 'numbering:canary.weight': '30' })).toEqual({ 'canary.weight': '30' });
    expect(platformConfigInput({ 'numbering:["canary.weight"]': '0' })).toEqual({ 'canary.weight': '0' });
  });

  it('leaves the alert receiver secrets out of the typed config', () => {
    expect(platformConfigInput({ 'numbering:alerting.slackWebhookUrl': 'https://x', 'numbering:target': 'docker' })).toEqual({ target: 'docker' });
  });

  it('turns every bad key into one Pulumi error that lists them all, each as the namespaced key to set', () => {
    const message = runError(() => parseStackConfig({ 'numbering:target': 'kubernetes', 'numbering:canary.weight': '150', 'numbering:redis.masters': '2' }, 'prod'));
    expect(message).toContain('stack "prod" has invalid configuration');
    expect(message).toMatch(/numbering:canary\.weight: .*<= 100/);
    expect(message).toMatch(/numbering:redis\.masters: .*>= 3/);
    expect(message).toContain('pulumi config set');
    // A typo is caught before values are checked, and named with the key it resembles.
    expect(runError(() => parseStackConfig({ 'numbering:target': 'kubernetes', 'numbering:canary.wieght': '3' }, 'prod'))).toMatch(/numbering:canary\.wieght: unknown config key.*canary\.weight/);
  });

  it('refuses the devstack target on a Pulumi stack', () => {
    expect(runError(() => parseStackConfig({ 'numbering:target': 'local' }, 'dev'))).toMatch(/numbering:target: .*"docker" \(dev\) or "kubernetes" \(prod\)/);
    expect(runError(() => parseStackConfig({}, 'dev'))).toMatch(/numbering:target/);
  });

  it('formats a ConfigError for the CLI', () => {
    const text = stackConfigErrorMessage('dev', new ConfigError([{ key: 'a.b', message: 'bad' }]));
    expect(text.split('\n')).toContain('  - numbering:a.b: bad');
  });
});

describe('images', () => {
  it('accepts versions and digests, refuses latest and untagged images with the config key', () => {
    expect(pinnedImage('redis.image', 'redis:7.0.15')).toBe('redis:7.0.15');
    expect(pinnedImage('x', 'ghcr.io/zalando/spilo-16:3.3-p3')).toBe('ghcr.io/zalando/spilo-16:3.3-p3');
    expect(pinnedImage('x', `redis@sha256:${'a'.repeat(64)}`)).toContain('@sha256');
    expect(() => pinnedImage('redis.image', 'redis:latest')).toThrow(/redis\.image: .*latest/);
    expect(() => pinnedImage('redis.image', 'redis')).toThrow(/redis\.image: .*no tag/);
    // A registry port is not a tag.
    expect(() => pinnedImage('service.image', 'registry.local:5000/numbering')).toThrow(/no tag/);
    expect(imageSlug('prom/prometheus:v2.53.3')).toBe('prom-prometheus-v2-53-3');
  });

  it('refuses an unpinned ops image, an unknown time zone and a schedule that is not five cron fields, by key', () => {
    expect(runError(() => parseStackConfig({ 'numbering:target': 'kubernetes', 'numbering:ops.image': 'ghcr.io/numbering/numbering-ops:latest' }, 'prod'))).toMatch(/numbering:ops\.image: .*latest/);
    expect(runError(() => parseStackConfig({ 'numbering:target': 'kubernetes', 'numbering:ops.image': 'ghcr.io/numbering/numbering-ops' }, 'prod'))).toMatch(/numbering:ops\.image: .*no tag/);
    const message = runError(() =>
      parseStackConfig({ 'numbering:target': 'kubernetes', 'numbering:ops.timeZone': 'Mars/Olympus_Mons', 'numbering:ops.integritySchedule': '@daily', 'numbering:ops.archiveAuditSchedule': '0 3 1 *' }, 'prod'),
    );
    expect(message).toMatch(/numbering:ops\.integritySchedule: .*five-field cron/);
    expect(message).toMatch(/numbering:ops\.archiveAuditSchedule: .*five-field cron/);
    // The time zone is checked against the runtime's zone database once the shapes are right.
    expect(runError(() => parseStackConfig({ 'numbering:target': 'kubernetes', 'numbering:ops.timeZone': 'Mars/Olympus_Mons' }, 'prod'))).toMatch(/numbering:ops\.timeZone: unknown IANA time zone "Mars\/Olympus_Mons"/);
    const ok = parseStackConfig({ 'numbering:target': 'kubernetes', 'numbering:ops.timeZone': 'America/Argentina/Buenos_Aires', 'numbering:ops.cleanupReservationsSchedule': '*/5 6-22 * * 1-5' }, 'prod');
    expect(ok.ops).toMatchObject({ timeZone: 'America/Argentina/Buenos_Aires', cleanupReservationsSchedule: '*/5 6-22 * * 1-5', backupKeepDays: 7, archiveAuditOlderThan: '2y' });
  });

  it('every default image of the config is pinned', () => {
    const config = defaultPlatformConfig('docker');
    const images = [config.redis.image, config.mariadb.image, config.mariadb.exporterImage, config.postgres.image, config.postgres.etcdImage, config.postgres.haproxyImage, config.postgres.pgbouncerImage, config.monitoring.prometheusImage, config.monitoring.alertmanagerImage, config.monitoring.grafanaImage, config.monitoring.redisExporterImage, config.service.nginxImage, config.ops.image];
    for (const image of images) expect(() => pinnedImage('default', image)).not.toThrow();
  });
});

describe('derived settings', () => {
  it('sizes pods from the tuning keys', () => {
    expect(mebibytes('k', '256M')).toBe(256);
    expect(mebibytes('k', '2G')).toBe(2048);
    expect(mebibytes('k', '1GB')).toBe(1024);
    expect(mebibytes('k', '512kB')).toBe(0.5);
    expect(() => mebibytes('mariadb.innodbBufferPoolSize', 'lots')).toThrow(/mariadb\.innodbBufferPoolSize/);
    const config = defaultPlatformConfig('kubernetes', { 'redis.maxmemoryMb': 1024, 'mariadb.innodbBufferPoolSize': '2G' });
    expect(redisSize(config)).toMatchObject({ memoryRequest: '1088Mi', memoryLimit: '2176Mi', storage: '4Gi' });
    // The limit must hold the buffer pool with room to spare.
    expect(Number.parseInt(mariaDbSize(config).memoryLimit, 10)).toBeGreaterThan(2048);
  });

  it('forms a static etcd cluster from the model (Docker), and has none on Kubernetes', () => {
    const model = buildPlatform(defaultPlatformConfig('docker'));
    const members = etcdMembers(model);
    expect(members.map((m) => m.host)).toEqual(['etcd-0', 'etcd-1', 'etcd-2']);
    const args = etcdArgs(model, members[1]!);
    expect(args).toContain('--name=etcd-1');
    expect(args).toContain('--initial-cluster=etcd-0=http://etcd-0:2380,etcd-1=http://etcd-1:2380,etcd-2=http://etcd-2:2380');
    expect(args).toContain('--advertise-client-urls=http://etcd-1:2379');
    expect(() => etcdMembers(buildPlatform(defaultPlatformConfig('kubernetes')))).toThrow(/kubernetes DCS/);
  });
});
