// How provision logs in, in the order ssh itself tries: the agent, the operator's own keys,
// then a password (from --ask-pass or PROVISION_PASSWORD) for the first contact.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import ssh2, { type ParsedKey } from 'ssh2';
import { createPrivateKey, sign } from 'node:crypto';
import { registerSecret } from '../log.js';

export interface OperatorIdentity {
  agent?: string;
  /** Parsed, unlocked private keys by file. */
  keys: Map<string, { key: ParsedKey }>;
  defaultKeyFiles: string[];
  password?: string;
  notes: string[]; // e.g. an encrypted key that was skipped
}

export function sshDir(): string {
  // HOME first, as the shell sets it (os.homedir() inside jest's sandbox ignores a changed HOME)
  return join(process.env.HOME || homedir(), '.ssh');
}

/** ~/.ssh/id_*, in the order ssh tries them. */
export const defaultKeyFiles = () => ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((name) => join(sshDir(), name));

/** Asks for one key's passphrase (on the terminal); undefined where nobody can be asked. */
export type PassphrasePrompt = (file: string) => Promise<string | undefined>;

/**
 * The operator's credentials. An encrypted key is unlocked once, by `askPassphrase`, where no agent can
 * hold it; else it is skipped with a note saying how to use it.
 */
export async function loadOperatorIdentity(
  password: string | undefined,
  identityFiles: readonly string[] = [],
  askPassphrase?: PassphrasePrompt,
): Promise<OperatorIdentity> {
  const identity: OperatorIdentity = { keys: new Map(), defaultKeyFiles: defaultKeyFiles(), notes: [] };
  if (process.env.SSH_AUTH_SOCK) identity.agent = process.env.SSH_AUTH_SOCK;
  for (const file of new Set([...identityFiles, ...identity.defaultKeyFiles])) {
    if (!existsSync(file)) {
      if (identityFiles.includes(file)) identity.notes.push(`IdentityFile ${file} (from ~/.ssh/config) does not exist`);
      continue;
    }
    const key = readFileSync(file);
    let parsed = ssh2.utils.parseKey(key);
    if (parsed instanceof Error && /encrypt|passphrase/i.test(parsed.message)) {
      const passphrase = identity.agent ? undefined : await askPassphrase?.(file);
      if (passphrase === undefined) {
        identity.notes.push(
          `${file} is skipped: it is encrypted; load it into ssh-agent (ssh-add ${file}) to use it${identity.agent ? '' : ', or run provision on a terminal to be asked for its passphrase'}`,
        );
        continue;
      }
      registerSecret(passphrase);
      parsed = ssh2.utils.parseKey(key, passphrase);
      if (parsed instanceof Error) {
        identity.notes.push(`${file} is skipped: the passphrase did not unlock it`);
        continue;
      }
    }
    if (parsed instanceof Error) identity.notes.push(`${file} is skipped: ${parsed.message}`);
    else identity.keys.set(file, { key: withCachedSigner(parsed) });
  }
  if (password) identity.password = password;
  return identity;
}

/**
 * ssh2 re-reads an ed25519 key's PEM on every signature (~1.5 ms; 300 robots, 300 logins): sign with
 * a key object made once instead. Other key types keep ssh2's own signing (their hash choice).
 */
function withCachedSigner(key: ParsedKey): ParsedKey {
  if (key.type !== 'ssh-ed25519') return key;
  const privateKey = createPrivateKey(key.getPrivatePEM());
  key.sign = (data: Buffer) => sign(null, data, privateKey);
  return key;
}

/** One host's user and IdentityFiles (tried first, or alone with identitiesOnly). */
interface LoginSettings {
  username: string;
  identityFiles?: readonly string[];
  identitiesOnly?: boolean;
}

type AuthHandler = (methodsLeft: string[] | null, partialSuccess: boolean | null, next: (attempt: object | false) => void) => void;

/**
 * ssh2 auth attempts for one user, in order, skipping methods the server does not offer — so a wrong
 * password costs one of sshd's failure delays, not one per method.
 */
export function authHandler(identity: OperatorIdentity, login: LoginSettings): AuthHandler {
  const { username } = login;
  const attempts: { method: string; attempt: object }[] = [];
  // IdentitiesOnly: the agent is not asked (ssh would offer only its keys that match the files).
  if (identity.agent && !login.identitiesOnly)
    attempts.push({ method: 'publickey', attempt: { type: 'agent', username, agent: identity.agent } });
  const files =
    login.identitiesOnly && login.identityFiles?.length
      ? login.identityFiles
      : [...(login.identityFiles ?? []), ...identity.defaultKeyFiles];
  for (const file of new Set(files)) {
    const key = identity.keys.get(file);
    if (key) attempts.push({ method: 'publickey', attempt: { type: 'publickey', username, ...key } });
  }
  const { password } = identity;
  if (password !== undefined) {
    attempts.push(
      { method: 'password', attempt: { type: 'password', username, password } },
      {
        method: 'keyboard-interactive',
        attempt: {
          type: 'keyboard-interactive',
          username,
          prompt: (_n: string, _i: string, _l: string, prompts: unknown[], finish: (answers: string[]) => void) =>
            finish(prompts.map(() => password)),
        },
      },
    );
  }
  let next = 0;
  let passwordTried = false;
  return (methodsLeft, _partial, done) => {
    while (next < attempts.length) {
      const { method, attempt } = attempts[next++]!;
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
  for (const privateKey of defaultKeyFiles()) {
    const pub = `${privateKey}.pub`;
    if (existsSync(pub) && existsSync(privateKey)) return { key: readFileSync(pub, 'utf8').trim(), label, generated: null };
  }
  const file = join(sshDir(), 'id_ed25519');
  if (!create) return { key: '', label, generated: file };
  const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: label });
  mkdirSync(sshDir(), { recursive: true, mode: 0o700 });
  writeFileSync(file, pair.private, { mode: 0o600, flag: 'wx' });
  writeFileSync(`${file}.pub`, pair.public + '\n', { mode: 0o644, flag: 'wx' });
  return { key: pair.public.trim(), label, generated: file };
}
