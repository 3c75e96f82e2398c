/**
 * Every image is pinned: a tag other than `latest`, or a digest. The config schema allows an image
 * without a tag (it is a plain image reference), so the rule is enforced here, where images are used,
 * with the config key in the message.
 */
export function pinnedImage(key: string, image: string): string {
  const digest = /@sha256:[a-f0-9]{64}$/.test(image);
  const lastSegment = image.replace(/@sha256:[a-f0-9]{64}$/, '').split('/').pop() ?? '';
  const tag = lastSegment.includes(':') ? lastSegment.split(':').pop() : undefined;
  if (!digest && !tag) throw new Error(`${key}: image ${JSON.stringify(image)} has no tag; pin a version (e.g. ${image}:1.2.3)`);
  if (tag === 'latest') throw new Error(`${key}: image ${JSON.stringify(image)} uses "latest"; pin a version so a deployment is reproducible`);
  return image;
}

/** A short, resource-name-safe slug of an image reference (`prom/prometheus:v2.53.3` -> `prom-prometheus-v2-53-3`). */
export function imageSlug(image: string): string {
  return image
    .replace(/@sha256:([a-f0-9]{12}).*$/, '-$1')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .toLowerCase();
}
