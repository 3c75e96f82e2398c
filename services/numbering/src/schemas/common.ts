import { Type, type Static } from 'typebox';
import { FIELD_TOKENS, FIELD_VALUE_MAX_LENGTH, RESET_SCOPES } from '../domain/template.js';
import { IDEMPOTENCY_KEY_PATTERN } from '../domain/idempotency.js';

export const ErrorResponse = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String(),
  error: Type.String(),
  message: Type.String(),
});

/** Error bodies every route may return; 5xx never carry internals. */
export const errorResponses = { '4xx': ErrorResponse, '5xx': ErrorResponse } as const;

export const TemplateName = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', description: 'template (document type) name' });

const FieldValue = Type.String({ minLength: 1, maxLength: FIELD_VALUE_MAX_LENGTH });

export const Fields = Type.Object(Object.fromEntries(FIELD_TOKENS.map((t) => [t, Type.Optional(FieldValue)])), {
  additionalProperties: false,
  description: `values of the template's tokens: ${FIELD_TOKENS.join(', ')}`,
});

export const NumberRequest = Type.Object(
  {
    template: TemplateName,
    fields: Fields,
  },
  { additionalProperties: false },
);
export type NumberRequest = Static<typeof NumberRequest>;

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.String({ pattern: IDEMPOTENCY_KEY_PATTERN, description: '1..128 printable ASCII characters' }),
});

export const Reason = Type.String({ minLength: 3, maxLength: 500, description: 'why (kept in the audit log)' });

export const ResetScope = Type.Union([Type.Literal(RESET_SCOPES[0]), Type.Literal(RESET_SCOPES[1]), Type.Literal(RESET_SCOPES[2])]);

/** Serialised from a Date by fast-json-stringify (ISO 8601, UTC). */
export const DateTime = Type.Unsafe<Date | string>(Type.String({ format: 'date-time' }));

export const Allocation = Type.Object({
  number: Type.String(),
  sequence: Type.Integer(),
  counterKey: Type.String(),
});

export const NumberState = Type.Union([Type.Literal('RESERVED'), Type.Literal('CONFIRMED'), Type.Literal('CANCELLED'), Type.Literal('EXPIRED'), Type.Literal('VOID'), Type.Literal('SKIPPED')]);

export const NumberDetails = Type.Object({
  number: Type.String(),
  state: NumberState,
  sequence: Type.Integer(),
  counterKey: Type.String(),
  template: Type.String(),
  createdAt: DateTime,
  updatedAt: DateTime,
  expiresAt: Type.Union([DateTime, Type.Null()]),
  voidedFrom: Type.Union([Type.String(), Type.Null()]),
  replacedBy: Type.Union([Type.String(), Type.Null()]),
});

/** A number in a URL path (percent-encoded by the client: numbers may contain `/`). */
export const NumberParam = Type.Object({ number: Type.String({ minLength: 1, maxLength: 64 }) });
