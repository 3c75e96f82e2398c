import { createHash } from 'node:crypto';

/** SHA-256 of a rendered file, for pod-template annotations: a changed file changes the template, so the pods roll. */
export function checksum(...parts: string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex');
}
