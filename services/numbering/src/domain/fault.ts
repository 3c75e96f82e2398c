/**
 * TEST-ONLY fault injection (`FAULT_HTTP_500_RATIO`): lets an end-to-end test deploy a deliberately
 * broken canary (one that answers part of its API requests with 500) so the canary analysis and
 * `canary run` can be seen rolling it back against the real service. Off (0) everywhere the platform
 * deploys the service; nothing in the blueprint ever sets it.
 */

/** Only the numbering API is faulted; health probes and `/metrics` must keep working, or the faulty release could not be started, judged or scraped. */
export function isFaultableUrl(url: string): boolean {
  return url.startsWith('/v1/');
}

/**
 * Decides, request by request, which ones fail, so that exactly `ratio` of them do (error diffusion:
 * with 0.25, every 4th request), not a random draw: a test can count on the share it asked for.
 */
export function createFaultPicker(ratio: number): () => boolean {
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) throw new RangeError(`fault ratio must be a number from 0 to 1, got ${ratio}`);
  let owed = 0;
  return () => {
    owed += ratio;
    // 1e-9: 0.1 added ten times is 0.9999999999999999 in floating point.
    if (owed < 1 - 1e-9) return false;
    owed -= 1;
    return true;
  };
}
