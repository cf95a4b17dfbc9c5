// Operator keys named on the command line (--operator-key, --revoke-operator-key), read and checked
// before any connection, and the keys this run may log in with — never revoked: the run would lock its
// operator out.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { keyOf } from '../remote/sshFiles.js';
import { defaultKeyFiles, listAgentKeys, publicKeyOfFile, publicLine } from './auth.js';

/** The first public key line of FILE and a label for its tag (the key's comment, else the file's name). */
export function readPublicKeyFile(file: string): { key: string; label: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const line = text.split('\n').find((l) => keyOf(l) !== null && !l.trim().startsWith('#'));
  const key = line ? keyOf(line) : null;
  if (!line || !key)
    throw new Error(`${file}: no SSH public key in it (expected a line like "ssh-ed25519 AAAA… comment"; a private key is never taken)`);
  const words = line.trim().split(/\s+/);
  const comment = words.slice(words.indexOf(key.split(' ')[1]!) + 1).join('_');
  // The label ends the authorized_keys line: safe characters only.
  const label = (comment || basename(file)).replace(/[^A-Za-z0-9._@-]/g, '_').slice(0, 64) || 'operator';
  return { key, label };
}

/** Every key this run may log in with: the IdentityFiles, the default keys, the agent's. */
export async function loginKeys(identityFiles: readonly string[]): Promise<Set<string>> {
  const keys = new Set([...identityFiles, ...defaultKeyFiles()].map(publicKeyOfFile).filter((k): k is string => k !== null));
  const sock = process.env.SSH_AUTH_SOCK;
  if (sock) for (const k of await listAgentKeys(sock)) keys.add(publicLine(k));
  return keys;
}
