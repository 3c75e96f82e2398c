import type { ResetScope } from '../domain/template.js';
import type { Connection, Pool, Rows } from './pool.js';

export interface TemplateRow {
  id: number;
  name: string;
  pattern: string;
  resetScope: ResetScope;
  maxValue: number;
  description: string;
  active: boolean;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

const COLUMNS = 'id, name, pattern, reset_scope, max_value, description, active, version, created_at, updated_at';

function toTemplate(r: Rows[number]): TemplateRow {
  return {
    id: Number(r.id),
    name: String(r.name),
    pattern: String(r.pattern),
    resetScope: r.reset_scope as ResetScope,
    maxValue: Number(r.max_value),
    description: String(r.description),
    active: Number(r.active) === 1,
    version: Number(r.version),
    createdAt: r.created_at as Date,
    updatedAt: r.updated_at as Date,
  };
}

export async function findTemplateByName(db: Pool | Connection, name: string, forUpdate = false): Promise<TemplateRow | undefined> {
  const [rows] = await db.query<Rows>(`SELECT ${COLUMNS} FROM templates WHERE name = ?${forUpdate ? ' FOR UPDATE' : ''}`, [name]);
  return rows[0] ? toTemplate(rows[0]) : undefined;
}

export async function findTemplateById(db: Pool | Connection, id: number): Promise<TemplateRow | undefined> {
  const [rows] = await db.query<Rows>(`SELECT ${COLUMNS} FROM templates WHERE id = ?`, [id]);
  return rows[0] ? toTemplate(rows[0]) : undefined;
}

export async function listTemplates(db: Pool | Connection, includeInactive: boolean): Promise<TemplateRow[]> {
  const [rows] = await db.query<Rows>(`SELECT ${COLUMNS} FROM templates${includeInactive ? '' : ' WHERE active = 1'} ORDER BY name`);
  return rows.map(toTemplate);
}
