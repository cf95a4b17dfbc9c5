// The last `provision check` (or `up --check`) result, kept next to the log for provision ui to show.
// Redacted before it is written, like everything provision prints.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { logFile, redact } from '../log.js';
import type { LastCheck } from '../ui/fleetView.js';

/** The fleet's name: the inventory file's name without its extension (the inventory has no name field). */
export function fleetName(inventoryFile: string): string {
  const name = basename(inventoryFile, extname(inventoryFile)).replace(/[^A-Za-z0-9_.-]/g, '_');
  return name || 'fleet';
}

/** One file per inventory (its full path hashed: two robots.yaml in two folders are two fleets). */
function lastCheckFile(inventoryFile: string): string {
  const id = createHash('sha256').update(resolve(inventoryFile)).digest('hex').slice(0, 12);
  return join(dirname(logFile), `last-check-${fleetName(inventoryFile)}-${id}.json`);
}

export function storeLastCheck(inventoryFile: string, result: LastCheck): void {
  try {
    mkdirSync(dirname(logFile), { recursive: true, mode: 0o700 });
    writeFileSync(lastCheckFile(inventoryFile), redact(JSON.stringify(result)), { mode: 0o600 });
  } catch {
    // A help for the page, never a reason to fail the check.
  }
}

export function loadLastCheck(inventoryFile: string): LastCheck | null {
  try {
    return JSON.parse(readFileSync(lastCheckFile(inventoryFile), 'utf8')) as LastCheck;
  } catch {
    return null;
  }
}
