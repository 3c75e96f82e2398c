import { afterEach, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { buildPlatform, defaultPlatformConfig, exampleSecrets, serviceEnvironment } from '@numbering/blueprint';
import { EnvError, loadServiceEnv } from '../src/config.js';
import { createFaultPicker, isFaultableUrl } from '../src/domain/fault.js';
import config from '../src/plugins/app/config.js';
import faultInjection, { FAULT_CODE } from '../src/plugins/app/fault-injection.js';
import metrics from '../src/plugins/app/metrics.js';
import metricsRoute from '../src/routes/metrics.js';

/**
 * The test-only FAULT_HTTP_500_RATIO switch: off unless set, validated like every variable, and when
 * on it fails exactly that share of the /v1/ requests with 500 + X-Release, never health or /metrics.
 * The plugins are the service's own; the routes behind them are stand-ins (no database here).
 */

const model = buildPlatform(defaultPlatformConfig('local'), { workdir: '/tmp/x' });
const canaryEnv = serviceEnvironment(model, model.service.releases[1], exampleSecrets());

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function appWith(extraEnv: Record<string, string>, logs: string[] = []): Promise<FastifyInstance> {
  const env = loadServiceEnv({ ...canaryEnv, ...extraEnv });
  const stream = { write: (line: string) => logs.push(line) };
  const instance = Fastify({ logger: { level: 'warn', stream } });
  await instance.register(config, { env });
  await instance.register(metrics);
  await instance.register(faultInjection);
  instance.post('/v1/numbers', async (_req, reply) => reply.code(201).send({ number: 'X-0001' }));
  instance.get('/v1/numbers/:number', async () => ({ state: 'CONFIRMED' }));
  instance.get('/health', async () => ({ status: 'ok' }));
  instance.get('/health/ready', async () => ({ status: 'ready' }));
  await instance.register(metricsRoute);
  app = instance;
  return instance;
}

describe('FAULT_HTTP_500_RATIO (test-only fault injection)', () => {
  it('is off by default', () => {
    expect(loadServiceEnv(canaryEnv).FAULT_HTTP_500_RATIO).toBe(0);
  });

  it('accepts a decimal from 0 to 1 and names the variable for anything else', () => {
    expect(loadServiceEnv({ ...canaryEnv, FAULT_HTTP_500_RATIO: '0.25' }).FAULT_HTTP_500_RATIO).toBe(0.25);
    expect(loadServiceEnv({ ...canaryEnv, FAULT_HTTP_500_RATIO: '1' }).FAULT_HTTP_500_RATIO).toBe(1);
    for (const [bad, message] of [
      ['1.5', /FAULT_HTTP_500_RATIO: must be <= 1/],
      ['-0.1', /FAULT_HTTP_500_RATIO: must be >= 0/],
      ['half', /FAULT_HTTP_500_RATIO: must be a plain decimal number such as 0.25/],
      ['true', /FAULT_HTTP_500_RATIO: must be a plain decimal number such as 0.25/],
      ['0x1', /FAULT_HTTP_500_RATIO: must be a plain decimal number such as 0.25/],
    ] as const) {
      let error: unknown;
      try {
        loadServiceEnv({ ...canaryEnv, FAULT_HTTP_500_RATIO: bad });
      } catch (e) {
        error = e;
      }
      expect(error, bad).toBeInstanceOf(EnvError);
      expect((error as EnvError).problems.map((p) => p.name), bad).toEqual(['FAULT_HTTP_500_RATIO']);
      expect((error as Error).message, bad).toMatch(message);
    }
  });

  it('picks exactly the requested share, spread evenly', () => {
    const count = (ratio: number, n: number) => Array.from({ length: n }, createFaultPicker(ratio)).filter(Boolean).length;
    expect(count(0, 1000)).toBe(0);
    expect(count(1, 1000)).toBe(1000);
    expect(count(0.25, 1000)).toBe(250);
    expect(count(0.1, 1000)).toBe(100);
    expect(count(0.3, 10)).toBe(3);
    const quarter = createFaultPicker(0.25);
    expect(Array.from({ length: 8 }, quarter)).toEqual([false, false, false, true, false, false, false, true]);
    expect(() => createFaultPicker(2)).toThrow(/from 0 to 1/);
  });

  it('only ever faults the numbering API', () => {
    expect(isFaultableUrl('/v1/numbers')).toBe(true);
    expect(isFaultableUrl('/v1/admin/templates')).toBe(true);
    for (const url of ['/health', '/health/ready', '/health/numbering', '/metrics', '/v1', '/v10/x']) expect(isFaultableUrl(url), url).toBe(false);
  });

  it('when off, serves every request and logs no warning', async () => {
    const logs: string[] = [];
    const a = await appWith({}, logs);
    for (let i = 0; i < 20; i++) expect((await a.inject({ method: 'POST', url: '/v1/numbers' })).statusCode).toBe(201);
    expect(logs.join('')).not.toMatch(/fault injection/i);
  });

  it('when on, answers that share of /v1/ requests with 500 FAULT_INJECTED and X-Release, counted in the HTTP metric', async () => {
    const logs: string[] = [];
    const a = await appWith({ FAULT_HTTP_500_RATIO: '0.5' }, logs);
    expect(logs.join('')).toMatch(/TEST-ONLY fault injection is ON: 50 % of \/v1\/ requests/);

    const answers = [];
    for (let i = 0; i < 40; i++) answers.push(await a.inject({ method: 'POST', url: '/v1/numbers' }));
    const faulted = answers.filter((r) => r.statusCode === 500);
    expect(faulted).toHaveLength(20);
    expect(answers.filter((r) => r.statusCode !== 500).map((r) => r.statusCode)).toEqual(Array(20).fill(201));
    for (const r of faulted) {
      expect(r.headers['x-release']).toBe('canary');
      expect(r.json()).toMatchObject({ statusCode: 500, code: FAULT_CODE });
    }

    const scrape = await a.inject({ method: 'GET', url: '/metrics' });
    expect(scrape.statusCode).toBe(200);
    const count = (status: string) => Number(new RegExp(`http_request_duration_seconds_count\\{[^}]*route="/v1/numbers"[^}]*status_code="${status}"[^}]*\\} (\\d+)`).exec(scrape.body)?.[1] ?? 0);
    expect(count('500')).toBe(20);
    expect(count('201')).toBe(20);
  });

  it('never faults health probes or /metrics, even at 1', async () => {
    const a = await appWith({ FAULT_HTTP_500_RATIO: '1' });
    for (let i = 0; i < 10; i++) {
      expect((await a.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
      expect((await a.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
      expect((await a.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
      expect((await a.inject({ method: 'POST', url: '/v1/numbers' })).statusCode).toBe(500);
    }
  });
});
