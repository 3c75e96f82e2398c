import { randomUUID } from 'node:crypto';
import { request } from './stack.js';

/**
 * Closed-loop load: `clients` concurrent loops, each issuing POST /v1/numbers until `total`
 * allocations were acknowledged (or the deadline passes). Requests go to a random instance, like a
 * load balancer would send them. A request that fails (network error, 5xx) is retried with the
 * same Idempotency-Key, as a well-behaved client does, so an uncertain commit is resolved by replay.
 */

export interface Ack {
  number: string;
  sequence: number;
  counterKey: string;
  key: string;
  instance: string;
  replayed: boolean;
  /** When the acknowledgement arrived (epoch ms). */
  at: number;
}

export interface LoadResult {
  acks: Ack[];
  /** Non-2xx answers by status (retried). */
  failures: Map<string, number>;
  /** Requests that never got a 2xx before the deadline. */
  abandoned: number;
  elapsedMs: number;
}

export async function runLoad(opts: {
  urls: string[];
  clients: number;
  total: number;
  body: (i: number) => unknown;
  deadlineMs: number;
  onProgress?: (acked: number) => void;
  retryPauseMs?: number;
}): Promise<LoadResult> {
  const acks: Ack[] = [];
  const failures = new Map<string, number>();
  let issued = 0;
  let abandoned = 0;
  const started = Date.now();
  const deadline = started + opts.deadlineMs;
  const note = (what: string) => failures.set(what, (failures.get(what) ?? 0) + 1);

  async function client() {
    while (issued < opts.total && Date.now() < deadline) {
      const i = issued++;
      const key = randomUUID();
      const body = opts.body(i);
      let done = false;
      while (!done && Date.now() < deadline) {
        const url = opts.urls[Math.floor(Math.random() * opts.urls.length)]!;
        try {
          const res = await request<{ number: string; sequence: number; counterKey: string; message?: string }>(url, 'POST', '/v1/numbers', body, { 'idempotency-key': key });
          if (res.status === 201) {
            acks.push({ ...res.body, key, instance: url, replayed: res.headers['idempotent-replayed'] === 'true', at: Date.now() });
            done = true;
            opts.onProgress?.(acks.length);
          } else {
            note(`${res.status} ${res.body.message ?? ''}`.slice(0, 120));
            if (res.status < 500) done = true; // a 4xx will not get better
            else await pause(opts.retryPauseMs ?? 50);
          }
        } catch (e) {
          note(`network: ${(e as Error).message}`.slice(0, 120));
          await pause(opts.retryPauseMs ?? 50);
        }
      }
      if (!done) abandoned++;
    }
  }

  await Promise.all(Array.from({ length: opts.clients }, client));
  return { acks, failures, abandoned, elapsedMs: Date.now() - started };
}

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Numbers acknowledged more than once for different Idempotency-Keys (must be empty). */
export function duplicateNumbers(acks: readonly Ack[]): string[] {
  const byNumber = new Map<string, Set<string>>();
  for (const a of acks) {
    const keys = byNumber.get(a.number) ?? new Set<string>();
    keys.add(a.key);
    byNumber.set(a.number, keys);
  }
  return [...byNumber.entries()].filter(([, keys]) => keys.size > 1).map(([n]) => n);
}
