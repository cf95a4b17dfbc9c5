// An answer provision cannot understand, for the operator: what was expected and the first bytes that
// came (secrets redacted, control characters made visible).
import { redact } from '../log.js';

const PREVIEW_BYTES = 80;

export function unexpectedAnswer(what: string, expected: string, got: string): Error {
  const text = redact(got.trim());
  const preview = JSON.stringify(text.slice(0, PREVIEW_BYTES)) + (text.length > PREVIEW_BYTES ? '…' : '');
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
