import { conflict, notFound } from '../domain/errors.js';
import { parseTemplate, type ParsedTemplate } from '../domain/template.js';
import { findTemplateByName, type TemplateRow } from '../db/templates.js';
import type { Pool } from '../db/pool.js';

export interface CachedTemplate {
  row: TemplateRow;
  parsed: ParsedTemplate;
}

/**
 * Templates by name, cached briefly. Staleness is harmless: every allocation batch re-reads the
 * template's version inside its transaction and retries with a fresh copy when it changed.
 */
export class TemplateCache {
  private readonly entries = new Map<string, { value: CachedTemplate; loadedAt: number }>();

  constructor(
    private readonly pool: Pool,
    private readonly ttlMs = 5000,
  ) {}

  async get(name: string, opts: { fresh?: boolean; allowInactive?: boolean } = {}): Promise<CachedTemplate> {
    const hit = this.entries.get(name);
    let value = hit && !opts.fresh && Date.now() - hit.loadedAt < this.ttlMs ? hit.value : undefined;
    if (!value) {
      const row = await findTemplateByName(this.pool, name);
      if (!row) throw notFound(`unknown template ${JSON.stringify(name)}`);
      value = { row, parsed: parseTemplate(row.pattern) };
      this.entries.set(name, { value, loadedAt: Date.now() });
    }
    if (!value.row.active && !opts.allowInactive) throw conflict('TEMPLATE_INACTIVE', `template ${name} is deactivated`);
    return value;
  }

  invalidate(name: string): void {
    this.entries.delete(name);
  }
}
