import type { Context } from 'hono';
import type { z } from 'zod';
import { InvalidRequestError, UnsupportedMediaTypeError } from '../../shared/errors.js';

/**
 * Reads and validates a JSON body. The size limit is enforced before this runs (the
 * `bodyLimit` middleware), so the body read here is bounded.
 * @throws UnsupportedMediaTypeError unless the content type is JSON
 * @throws InvalidRequestError for malformed JSON or a body the schema rejects, naming the field
 */
export const readJson = async <S extends z.ZodType>(
  c: Context,
  schema: S,
): Promise<z.output<S>> => {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) throw new UnsupportedMediaTypeError();
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch (cause) {
    throw new InvalidRequestError('The request body is not valid JSON.', {
      code: 'invalid_json',
      cause,
    });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InvalidRequestError('The request body must be a JSON object.', {
      code: 'invalid_json',
    });
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    if (issue.code === 'unrecognized_keys') {
      // A field Sluice does not know is refused by name, never dropped.
      const param = [...issue.path.map(String), issue.keys[0]!].join('.');
      throw new InvalidRequestError(`Unsupported parameter '${param}'.`, {
        code: 'unsupported_parameter',
        param,
      });
    }
    const param = issue.path.map(String).join('.') || null;
    throw new InvalidRequestError(param ? `Invalid '${param}': ${issue.message}` : issue.message, {
      code:
        issue.path[0] === 'model' && issue.code === 'invalid_type'
          ? 'missing_model'
          : 'invalid_value',
      ...(param ? { param } : {}),
    });
  }
  return result.data;
};
