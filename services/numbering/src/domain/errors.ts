/**
 * Errors the API reports to clients. Anything else becomes a 500 whose details stay in the log.
 */
export class ServiceError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}

export const badRequest = (message: string) => new ServiceError(400, 'BAD_REQUEST', message);
export const notFound = (message: string) => new ServiceError(404, 'NOT_FOUND', message);
export const conflict = (code: string, message: string) => new ServiceError(409, code, message);
export const gone = (message: string) => new ServiceError(410, 'GONE', message);
export const unavailable = (code: string, message: string, retryAfterSeconds = 1) => new ServiceError(503, code, message, retryAfterSeconds);
