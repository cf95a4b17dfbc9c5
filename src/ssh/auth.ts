// How provision logs in, in the order ssh itself tries: the agent, the operator's own keys,
// then a password (from --ask-pass or PROVISION_PASSWORD) for the first contact.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';

export interface OperatorIdentity {
  agent?: string;
  privateKeys: { file: string; key: Buffer }[];
  password?: string;
  notes: string[]; // e.g. an encrypted key that was skipped
}

const KEY_NAMES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

export function sshDir(): string {
  return join(homedir(), '.ssh');
}

export function loadOperatorIdentity(password: string | undefined): OperatorIdentity {
  const identity: OperatorIdentity = { privateKeys: [], notes: [] };
  if (process.env.SSH_AUTH_SOCK) identity.agent = process.env.SSH_AUTH_SOCK;
  for (const name of KEY_NAMES) {
    const file = join(sshDir(), name);
    if (!existsSync(file)) continue;
    const key = readFileSync(file);
    const parsed = ssh2.utils.parseKey(key);
    if (parsed instanceof Error) {
      identity.notes.push(`${file} is skipped: ${/encrypt|passphrase/i.test(parsed.message) ? 'it is encrypted; load it into ssh-agent (ssh-add) to use it' : parsed.message}`);
      continue;
    }
    identity.privateKeys.push({ file, key });
  }
  if (password) identity.password = password;
  return identity;
}

type AuthHandler = (methodsLeft: string[] | null, partialSuccess: boolean | null, next: (attempt: object | false) => void) => void;

/**
 * ssh2 auth attempts for one user, in order, skipping methods the server does not offer — so a wrong
 * password costs one of sshd's failure delays, not one per method.
 */
export function authHandler(identity: OperatorIdentity, username: string): AuthHandler {
  const attempts: { method: string; attempt: object }[] = [];
  if (identity.agent) attempts.push({ method: 'publickey', attempt: { type: 'agent', username, agent: identity.agent } });
  for (const { key } of identity.privateKeys) attempts.push({ method: 'publickey', attempt: { type: 'publickey', username, key } });
  if (identity.password !== undefined) {
    const password = identity.password;
    attempts.push({ method: 'password', attempt: { type: 'password', username, password } });
    attempts.push({
      method: 'keyboard-interactive',
      attempt: {
        type: 'keyboard-interactive',
        username,
        prompt: (_n: string, _i: string, _l: string, prompts: unknown[], finish: (answers: string[]) => void) => finish(prompts.map(() => password)),
      },
    });
  }
  let next = 0;
  let passwordTried = false;
  return (methodsLeft, _partial, done) => {
    while (next < attempts.length) {
      const { method, attempt } = attempts[next++] as (typeof attempts)[number];
      if (methodsLeft && !methodsLeft.includes(method)) continue;
      // keyboard-interactive only where password auth is not offered (or not yet tried): same secret.
      if (method === 'keyboard-interactive' && passwordTried) continue;
      if (method === 'password') passwordTried = true;
      return done(attempt);
    }
    return done(false);
  };
}

/**
 * The operator's public key to install on every robot: the first of ~/.ssh/id_*.pub. When the
 * operator has none, an ed25519 key is generated in ~/.ssh/id_ed25519 (never overwriting anything).
 */
export function ensureOperatorKey(create: boolean): { key: string; label: string; generated: string | null } {
  const label = `${userInfo().username}@${hostname()}`;
  for (const name of KEY_NAMES) {
    const pub = join(sshDir(), `${name}.pub`);
    if (existsSync(pub) && existsSync(join(sshDir(), name))) return { key: readFileSync(pub, 'utf8').trim(), label, generated: null };
  }
  const file = join(sshDir(), 'id_ed25519');
  if (!create) return { key: '', label, generated: file };
  const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: label });
  mkdirSync(sshDir(), { recursive: true, mode: 0o700 });
  writeFileSync(file, pair.private, { mode: 0o600, flag: 'wx' });
  writeFileSync(`${file}.pub`, pair.public + '\n', { mode: 0o644, flag: 'wx' });
  return { key: pair.public.trim(), label, generated: file };
}
