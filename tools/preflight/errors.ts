/** The SDK error names that mean "these credentials may not call this". */
const DENIED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'AuthorizationError',
]);

/** The error's name, as the SDK sets it from the service's error code. */
export const errorName = (err: unknown): string =>
  err instanceof Error ? err.name : typeof err === 'string' ? err : 'Error';

export const errorMessage = (err: unknown): string =>
  err instanceof Error ? err.message : String(err);

/** True when the service refused the call for lack of permission. */
export function isAccessDenied(err: unknown): boolean {
  if (DENIED.has(errorName(err))) return true;
  const status = (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata
    ?.httpStatusCode;
  return status === 403;
}
