/** Kubernetes' recommended labels; Docker containers carry the same ones, so both targets filter alike. */
export function platformLabels(component: string, name: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': name,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/part-of': 'numbering',
    'app.kubernetes.io/managed-by': 'pulumi',
  };
}

/** The subset used as a selector: it must never change for an existing workload. */
export function selectorLabels(name: string, extra: Record<string, string> = {}): Record<string, string> {
  return { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'numbering', ...extra };
}
