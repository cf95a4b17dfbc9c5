// The run log: every remote command and its result, secrets redacted, control characters escaped.
// Lives under ~/.cache/provision/ (or $PROVISION_LOG_DIR); errors point the operator to it. Bounded:
// past LOG_MAX_BYTES it is renamed to provision.log.1 (the one before is dropped) and begins anew.
import { appendFileSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const secrets = new Set<string>();

/** A password or passphrase, to be replaced wherever it would be printed or logged. */
export function registerSecret(value: string | undefined) {
  if (value && value.length >= 4) secrets.add(value);
}

export function redact(text: string) {
  let out = text
    .replace(/SWMTKN-1-[0-9A-Za-z-]+/g, 'SWMTKN-1-<redacted>')
    .replace(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g, '<private key redacted>');
  for (const secret of secrets) out = out.split(secret).join('<redacted>');
  return out;
}

// C0 but tab and newline, DEL, C1, and the bidirectional overrides (text that reorders what follows it).
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text from robots (stderr, hostnames, labels, docker's errors) made harmless for a terminal: every
 * control character shown as an escape (`\x1b`, `\r`, `\u202e`), so none moves the cursor, sets a
 * title or colour, or hides what comes before it.
 */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => {
    if (c === '\r') return '\\r';
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** What may be printed or logged: secrets redacted, control characters escaped. */
export function printable(text: string): string {
  return escapeControls(redact(text));
}

/** JSON text for a terminal: JSON escapes C0 itself, not DEL, C1 or the bidirectional overrides (valid JSON either way). */
export function printableJson(json: string): string {
  return json.replace(CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export const logFile = join(process.env.PROVISION_LOG_DIR ?? join(homedir(), '.cache', 'provision'), 'provision.log');
/** The log and its one older generation hold at most twice this. */
export const LOG_MAX_BYTES = 8 * 1024 * 1024;
/** One message (a command's stderr) is cut here: the log keeps many commands rather than one flood. */
export const LOG_MESSAGE_MAX_CHARS = 64 * 1024;
let ready = false;

export function log(robot: string, message: string) {
  try {
    if (!ready) {
      mkdirSync(join(logFile, '..'), { recursive: true, mode: 0o700 });
      ready = true;
    }
    // Redacted before it is cut: a cut through a password would leave its head, which no longer matches.
    const clean = redact(message);
    const cut =
      clean.length > LOG_MESSAGE_MAX_CHARS
        ? `${clean.slice(0, LOG_MESSAGE_MAX_CHARS)}… (${clean.length - LOG_MESSAGE_MAX_CHARS} more characters not logged)`
        : clean;
    const line = `${new Date().toISOString()} [${robot}] ${escapeControls(cut)}\n`;
    // Stat each time: another provision run may write to or rotate the same log.
    const size = statSync(logFile, { throwIfNoEntry: false })?.size ?? 0;
    if (size + Buffer.byteLength(line) > LOG_MAX_BYTES) renameSync(logFile, `${logFile}.1`);
    appendFileSync(logFile, line, { mode: 0o600 });
  } catch {
    // The log is a help, never a reason to fail a run.
  }
}
