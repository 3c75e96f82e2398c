import { dirname } from 'node:path';
import { endpointString, type PlatformModel, type ServiceRelease } from '../model.js';

/**
 * The canary split. One weighted round-robin upstream holds both releases: smooth WRR gives the exact
 * share per worker (measured: 10.00 % of 2000 requests at weight 10, every run), where
 * `split_clients` over `$request_id` is a random draw (9.1 .. 11.9 % at the same weight).
 *
 * The release that answered is named by the service itself: it sets `X-Release` from its `RELEASE`
 * environment variable and nginx passes the header through. nginx cannot name it reliably: on
 * Docker and Kubernetes both releases listen on the same port behind DNS names, so `$upstream_addr`
 * is an IP address nginx resolved at start, not a release.
 */

/** Header every proxied response carries: the release that produced it (`stable` | `canary`). */
export const RELEASE_HEADER = 'X-Release';
/** nginx's own liveness, answered without touching an upstream. */
export const NGINX_HEALTH_PATH = '/healthz';
/** `stub_status` (not Prometheus format): for an nginx-prometheus-exporter sidecar on the loopback. */
export const NGINX_STATUS_PATH = '/nginx_status';
export const NGINX_UPSTREAM = 'numbering';

export function checkCanaryWeight(weight: unknown): number {
  if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0 || weight > 100) {
    throw new Error(`canary.weight must be an integer from 0 to 100 (percent of requests for the canary), got ${JSON.stringify(weight)}`);
  }
  return weight;
}

/**
 * The `server` lines of the split upstream. nginx rejects `weight=0`, so the ends of the range are
 * written differently: at 0 the canary is left out entirely (on Kubernetes its Service may not even
 * exist, and nginx refuses to start on an upstream host it cannot resolve); at 100 the stable
 * release stays as `backup`, so it still answers while the canary is down.
 */
export function nginxUpstreamServers(model: PlatformModel): string[] {
  const weight = checkCanaryWeight(model.canary.weight);
  const [stable, canary] = model.service.releases;
  // A server that failed `max_fails` times within `fail_timeout` gets no traffic for `fail_timeout`;
  // then one request probes it again.
  const health = 'max_fails=3 fail_timeout=10s';
  const server = (r: ServiceRelease, extra: string) => `server ${endpointString(r)}${extra} ${health};`;
  if (weight === 0) return [server(stable, '')];
  if (weight === 100) return [server(canary, ''), `server ${endpointString(stable)} backup;`];
  return [server(stable, ` weight=${100 - weight}`), server(canary, ` weight=${weight}`)];
}

/** Paths in the config are written relative to the prefix when they lie under it, so the file works for any `-p`. */
function underPrefix(model: PlatformModel, path: string): string {
  const prefix = model.canary.prefix.replace(/\/+$/, '');
  return path.startsWith(`${prefix}/`) ? path.slice(prefix.length + 1) : path;
}

/**
 * Where nginx buffers request and response bodies. Debian's defaults point at /var/lib/nginx, which a
 * devstack nginx must not share; containers write them beside the pid file in /tmp (writable without root).
 */
function tempRoot(model: PlatformModel): string {
  return model.target === 'local' ? `${model.canary.prefix}/tmp` : dirname(model.canary.pidFile);
}

const TEMP_PATHS = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'] as const;

/** Directories that must exist before nginx starts (it creates temp dirs, but not their parents or the log dirs). */
export function nginxDirectories(model: PlatformModel): string[] {
  const dirs = [tempRoot(model)];
  for (const log of [model.canary.errorLog, model.canary.accessLog]) {
    if (log.startsWith('/') && !log.startsWith('/dev/')) dirs.push(dirname(log));
  }
  return [...new Set(dirs)];
}

/** nginx.conf with the stable/canary split at model.canary.weight (0..100). */
export function renderNginxConf(model: PlatformModel): string {
  const c = model.canary;
  const servers = nginxUpstreamServers(model);
  const rel = (path: string) => underPrefix(model, path);
  const errorLog = c.errorLog ? rel(c.errorLog) : 'stderr';
  // A request waits up to the service's lock timeout before the service itself answers 503.
  const readTimeoutSeconds = Math.ceil(model.service.lockTimeoutMs / 1000) + 10;
  const [stable, canary] = model.service.releases;
  const lines = [
    `# Rendered by @numbering/blueprint for target ${model.target}; canary weight ${c.weight}%`,
    `# (${stable.name} ${stable.version} / ${canary.name} ${canary.version}). Do not edit: change canary.weight.`,
    `worker_processes ${c.workerProcesses};`,
    `pid ${rel(c.pidFile)};`,
    `error_log ${errorLog} warn;`,
    '',
    'events {',
    '    worker_connections 1024;',
    '}',
    '',
    'http {',
    '    server_tokens off;',
    '    default_type application/octet-stream;',
    '    log_format canary \'$remote_addr [$time_local] "$request" $status $body_bytes_sent $request_time \'',
    '                      \'upstream=$upstream_addr upstream_status=$upstream_status release=$upstream_http_x_release \'',
    '                      \'request_id=$request_id\';',
    `    access_log ${rel(c.accessLog)} canary;`,
    ...TEMP_PATHS.map((t) => `    ${t}_temp_path ${rel(`${tempRoot(model)}/${t}`)};`),
    '',
    `    upstream ${NGINX_UPSTREAM} {`,
    ...servers.map((s) => `        ${s}`),
    // Idle connections kept open to the releases; needs HTTP/1.1 and an empty Connection header below.
    '        keepalive 32;',
    '    }',
    '',
    '    server {',
    `        listen ${endpointString(c.listen)};`,
    '',
    `        location = ${NGINX_HEALTH_PATH} {`,
    '            access_log off;',
    '            default_type text/plain;',
    '            return 200 "ok\\n";',
    '        }',
    '',
    `        location = ${NGINX_STATUS_PATH} {`,
    '            stub_status;',
    '            access_log off;',
    '            allow 127.0.0.1;',
    '            allow ::1;',
    '            deny all;',
    '        }',
    '',
    '        location / {',
    `            proxy_pass http://${NGINX_UPSTREAM};`,
    '            proxy_http_version 1.1;',
    '            proxy_set_header Connection "";',
    '            proxy_set_header Host $host;',
    '            proxy_set_header X-Request-Id $request_id;',
    '            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    '            proxy_set_header X-Forwarded-Proto $scheme;',
    '            proxy_connect_timeout 1s;',
    `            proxy_read_timeout ${readTimeoutSeconds}s;`,
    '            # A release that is down (connection refused, no answer) is skipped and the request',
    '            # goes to the other one, so stable is the fallback while the canary is down.',
    '            # nginx passes a non-idempotent request (POST, PATCH, LOCK) to the next server only if',
    '            # nothing was sent yet: `non_idempotent` is deliberately NOT set, because POST',
    '            # /v1/numbers allocates a number and a retry after the request reached a release',
    '            # could allocate twice. So refused connections and connect timeouts (nothing sent) are',
    '            # retried for every method; read timeouts and 502/503 answers only for idempotent ones.',
    '            proxy_next_upstream error timeout http_502 http_503;',
    '            proxy_next_upstream_tries 2;',
    '            proxy_next_upstream_timeout 5s;',
    '        }',
    '    }',
    '}',
    '',
  ];
  return lines.join('\n');
}
