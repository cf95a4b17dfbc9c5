// The run log: every remote command and its result, secrets redacted. Lives under
// ~/.cache/provision/ (or $PROVISION_LOG_DIR); errors point the operator to it.
import { appendFileSync, mkdirSync } from 'node:fs';
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

export const logFile = join(process.env.PROVISION_LOG_DIR ?? join(homedir(), '.cache', 'provision'), 'provision.log');
let ready = false;

export function log(robot: string, message: string) {
  try {
    if (!ready) {
      mkdirSync(join(logFile, '..'), { recursive: true, mode: 0o700 });
      ready = true;
    }
    appendFileSync(logFile, `${new Date().toISOString()} [${robot}] ${redact(message)}\n`, { mode: 0o600 });
  } catch {
    // The log is a help, never a reason to fail a run.
  }
}
