// Operator keys named on the command line (--operator-key, --revoke-operator-key), read and checked
// before any connection, and the keys this run may log in with — never revoked: the run would lock its
// operator out.
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import ssh2 from 'ssh2';
import { keyOf } from '../remote/sshFiles.js';
import { defaultKeyFiles } from './auth.js';

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

const publicLine = (key: ssh2.ParsedKey) => `${key.type} ${key.getPublicSSH().toString('base64')}`;

/** "type blob" of a key file: its .pub when there is one, else the public half of an unencrypted private key. */
function publicOf(file: string): string | null {
  if (existsSync(`${file}.pub`)) return keyOf(readFileSync(`${file}.pub`, 'utf8'));
  if (!existsSync(file)) return null;
  const parsed = ssh2.utils.parseKey(readFileSync(file));
  return parsed instanceof Error ? null : publicLine(parsed);
}

/** Every key this run may log in with: the IdentityFiles, the default keys, the agent's. */
export async function loginKeys(identityFiles: readonly string[]): Promise<Set<string>> {
  const keys = new Set([...identityFiles, ...defaultKeyFiles()].map(publicOf).filter((k): k is string => k !== null));
  const sock = process.env.SSH_AUTH_SOCK;
  if (sock) {
    const agentKeys = await new Promise<unknown[]>((resolve) =>
      new ssh2.OpenSSHAgent(sock).getIdentities((err, list) => resolve(err ? [] : [...(list ?? [])])),
    );
    for (const k of agentKeys) {
      if (k && typeof k === 'object' && 'getPublicSSH' in k) keys.add(publicLine(k as ssh2.ParsedKey));
    }
  }
  return keys;
}
