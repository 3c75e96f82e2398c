import { describe, expect, it } from 'vitest';
import { buildPlatform, defaultPlatformConfig, nginxDirectories, nginxUpstreamServers, renderNginxConf, type PlatformModel, type Target } from '../src/index.js';

const modelAt = (weight: number, target: Target = 'local'): PlatformModel =>
  buildPlatform(defaultPlatformConfig(target, { 'canary.weight': weight }), { workdir: '/srv/devstack' });

/** The body of the `upstream numbering { ... }` block, one directive per entry. */
function upstreamBlock(conf: string): string[] {
  const match = /upstream numbering \{\n([\s\S]*?)\n\s*\}/.exec(conf);
  if (!match) throw new Error(`no upstream block in:\n${conf}`);
  return match[1]!.split('\n').map((l) => l.trim());
}

describe('renderNginxConf: the canary split', () => {
  it('splits 70/30 by weight between the stable and canary releases', () => {
    const model = modelAt(30);
    const [stable, canary] = model.service.releases;
    expect(upstreamBlock(renderNginxConf(model))).toEqual([
      `server 127.0.0.1:${stable.port} weight=70 max_fails=3 fail_timeout=10s;`,
      `server 127.0.0.1:${canary.port} weight=30 max_fails=3 fail_timeout=10s;`,
      'keepalive 32;',
    ]);
  });

  it('leaves the canary out at weight 0 (nginx rejects weight=0)', () => {
    const model = modelAt(0);
    const block = upstreamBlock(renderNginxConf(model));
    expect(block).toEqual([`server 127.0.0.1:${model.service.releases[0].port} max_fails=3 fail_timeout=10s;`, 'keepalive 32;']);
    expect(renderNginxConf(model)).not.toMatch(/weight=0\b/);
  });

  it('sends everything to the canary at weight 100, with stable as backup', () => {
    const model = modelAt(100);
    const [stable, canary] = model.service.releases;
    expect(upstreamBlock(renderNginxConf(model))).toEqual([
      `server 127.0.0.1:${canary.port} max_fails=3 fail_timeout=10s;`,
      `server 127.0.0.1:${stable.port} backup;`,
      'keepalive 32;',
    ]);
  });

  it('keeps the weights summing to 100 across the range', () => {
    for (let w = 1; w < 100; w++) {
      const weights = nginxUpstreamServers(modelAt(w)).map((s) => Number(/weight=(\d+)/.exec(s)![1]));
      expect(weights).toEqual([100 - w, w]);
    }
  });

  it('refuses a weight outside 0..100 or not an integer, naming canary.weight', () => {
    for (const weight of [-1, 101, 12.5, Number.NaN]) {
      const model = modelAt(10);
      const bad = { ...model, canary: { ...model.canary, weight } };
      expect(() => renderNginxConf(bad)).toThrow(/canary\.weight must be an integer from 0 to 100/);
    }
  });

  it('names container hosts of the releases on docker and kubernetes', () => {
    expect(upstreamBlock(renderNginxConf(modelAt(10, 'docker')))[1]).toBe('server numbering-canary:3000 weight=10 max_fails=3 fail_timeout=10s;');
    expect(upstreamBlock(renderNginxConf(modelAt(10, 'kubernetes')))[0]).toBe(
      'server numbering-stable.numbering.svc.cluster.local:3000 weight=90 max_fails=3 fail_timeout=10s;',
    );
  });
});

describe('renderNginxConf: the rest of the server', () => {
  it('writes local paths relative to the prefix', () => {
    const conf = renderNginxConf(modelAt(10));
    expect(conf).toMatch(/^pid nginx\.pid;$/m);
    expect(conf).toMatch(/^error_log logs\/error\.log warn;$/m);
    expect(conf).toMatch(/^\s+access_log logs\/access\.log canary;$/m);
    expect(conf).toMatch(/^\s+proxy_temp_path tmp\/proxy;$/m);
    expect(conf).toMatch(/^\s+listen 127\.0\.0\.1:\d+;$/m);
    expect(nginxDirectories(modelAt(10))).toEqual(['/srv/devstack/nginx/tmp', '/srv/devstack/nginx/logs']);
  });

  it('logs errors to stderr in containers and keeps temp files in /tmp', () => {
    const conf = renderNginxConf(modelAt(10, 'kubernetes'));
    expect(conf).toMatch(/^error_log stderr warn;$/m);
    expect(conf).toMatch(/^pid \/tmp\/nginx\.pid;$/m);
    expect(conf).toMatch(/^\s+client_body_temp_path \/tmp\/client_body;$/m);
    expect(conf).toMatch(/^\s+listen 0\.0\.0\.0:8080;$/m);
  });

  it('answers /healthz itself and restricts stub_status to the loopback', () => {
    const conf = renderNginxConf(modelAt(10));
    expect(conf).toMatch(/location = \/healthz \{[^}]*return 200/);
    expect(conf).toMatch(/location = \/nginx_status \{[^}]*stub_status;[^}]*allow 127\.0\.0\.1;[^}]*deny all;/);
  });

  it('never retries a request that reached a release unless it is idempotent', () => {
    const conf = renderNginxConf(modelAt(10));
    expect(conf).toMatch(/^\s+proxy_next_upstream error timeout http_502 http_503;$/m);
    expect(conf).not.toMatch(/^\s*proxy_next_upstream [^;]*non_idempotent/m);
  });
});
