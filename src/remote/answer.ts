// An answer provision cannot understand, for the operator: what was expected and the first bytes that
// came (secrets redacted, control characters made visible).
import type { z } from 'zod';
import { printableJson, redact } from '../log.js';

const PREVIEW_BYTES = 80;

export function unexpectedAnswer(what: string, expected: string, got: string): Error {
  const text = redact(got.trim());
  const preview = printableJson(JSON.stringify(text.slice(0, PREVIEW_BYTES))) + (text.length > PREVIEW_BYTES ? '…' : '');
  return new Error(`could not understand the robot's answer to ${what}: expected ${expected}, got ${text ? preview : 'nothing'}`);
}

/** JSON.parse, failing as an unexpected answer. */
export function parseJsonAnswer<T>(what: string, expected: string, text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw unexpectedAnswer(what, expected, text);
  }
}

/**
 * JSON of the shape `schema` describes: valid JSON of another shape (a robot's docker of another
 * version, or a lying robot) fails as an unexpected answer naming the field, never later as a TypeError.
 */
export function parseJsonShaped<S extends z.ZodType>(what: string, expected: string, text: string, schema: S): z.output<S> {
  const parsed = schema.safeParse(parseJsonAnswer<unknown>(what, expected, text));
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path.length ? issue.path.join('.') : 'the value';
  throw unexpectedAnswer(what, `${expected} (${field}: ${issue?.message ?? 'not as expected'})`, text);
}
