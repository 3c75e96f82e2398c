import { describe, expect, it } from 'vitest';
import { pgbackrestHealthFromInfo } from '../src/daemons/pgbackrest.js';

// Shapes of `pgbackrest info --output=json` (2.45), trimmed to the fields the status line reads.
const stanza = (status: { code: number; message: string }, backup: unknown[] = [], max: string | null = '000000010000000000000004') =>
  JSON.stringify([{ name: 'numbering-pg', status, backup, archive: [{ id: '15-1', min: max && '000000010000000000000001', max }] }]);

describe('pgbackrest status line', () => {
  it('is ok with backups, naming the last one and how far WAL is archived', () => {
    const info = stanza({ code: 0, message: 'ok' }, [{ label: '20261123-140000F', type: 'full', timestamp: { start: 1795442400, stop: 1795442407 } }]);
    expect(pgbackrestHealthFromInfo(info)).toEqual({ ok: true, detail: 'stanza numbering-pg: 1 backups, last full 20261123-140000F at 2026-11-23T14:00:07Z; WAL archived up to 000000010000000000000004' });
  });

  it('is ok right after `up` (no backup yet) and says how to take one', () => {
    const h = pgbackrestHealthFromInfo(stanza({ code: 2, message: 'no valid backups' }, [], null));
    expect(h.ok).toBe(true);
    expect(h.detail).toContain('no backup yet (`pnpm ops backup postgres`); WAL archived up to nothing yet');
  });

  it('fails on a missing stanza or output that is not JSON', () => {
    expect(pgbackrestHealthFromInfo(stanza({ code: 1, message: 'missing stanza path' }))).toEqual({ ok: false, detail: 'stanza numbering-pg: missing stanza path' });
    expect(pgbackrestHealthFromInfo('ERROR: [055]: unable to load info file').ok).toBe(false);
    expect(pgbackrestHealthFromInfo('[]')).toEqual({ ok: false, detail: 'pgbackrest info: no stanza' });
  });
});
