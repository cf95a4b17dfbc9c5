// How provision logs in: the key a robot is known to trust first, then the operator's other keys as
// long as sshd's MaxAuthTries leaves them a chance, then a password (from --ask-pass or
// PROVISION_PASSWORD) for the first contact.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import ssh2, { type ParsedKey } from 'ssh2';
import { createPrivateKey, sign } from 'node:crypto';
import { log, registerSecret } from '../log.js';
import { keyOf } from '../remote/sshFiles.js';

export interface OperatorIdentity {
  agent?: string;
  /** The agent's keys (public halves), in the agent's order: listed once per run. */
  agentKeys: ParsedKey[];
  /** Parsed, unlocked private keys by file. */
  keys: Map<string, { key: ParsedKey }>;
  /** "type base64" of each key file there is (its .pub, else its private half): matches agent keys to files. */
  filePublic: Map<string, string>;
  defaultKeyFiles: string[];
  /** The key provision installs on every robot (ensureOperatorKey): trusted wherever `keys` ran. */
  installedKey?: string;
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

/** "type base64" of a parsed key. */
export const publicLine = (key: ParsedKey) => `${key.type} ${key.getPublicSSH().toString('base64')}`;

/** "type base64" of a key file: its .pub when there is one, else the public half of an unencrypted private key. */
export function publicKeyOfFile(file: string): string | null {
  if (existsSync(`${file}.pub`)) return keyOf(readFileSync(`${file}.pub`, 'utf8'));
  if (!existsSync(file)) return null;
  const parsed = ssh2.utils.parseKey(readFileSync(file));
  return parsed instanceof Error ? null : publicLine(parsed);
}

/** The agent's keys, in its order; none when it does not answer (as ssh, which then goes on without it). */
export function listAgentKeys(sock: string): Promise<ParsedKey[]> {
  return new Promise((resolve) =>
    new ssh2.OpenSSHAgent(sock).getIdentities((err, list) => {
      if (err) log('provision', `the agent at ${sock} did not list its keys: ${err.message}`);
      resolve(err ? [] : [...(list ?? [])].filter((k): k is ParsedKey => typeof k === 'object' && 'getPublicSSH' in k));
    }),
  );
}

/**
 * The operator's credentials. An encrypted key is unlocked once, by `askPassphrase`, where no agent can
 * hold it; else it is skipped with a note saying how to use it.
 */
export async function loadOperatorIdentity(
  password: string | undefined,
  identityFiles: readonly string[] = [],
  askPassphrase?: PassphrasePrompt,
): Promise<OperatorIdentity> {
  const identity: OperatorIdentity = {
    agentKeys: [],
    keys: new Map(),
    filePublic: new Map(),
    defaultKeyFiles: defaultKeyFiles(),
    notes: [],
  };
  if (process.env.SSH_AUTH_SOCK) {
    identity.agent = process.env.SSH_AUTH_SOCK;
    identity.agentKeys = await listAgentKeys(identity.agent);
  }
  const installed = ensureOperatorKey(false).key;
  if (installed) identity.installedKey = keyOf(installed) ?? undefined;
  for (const file of new Set([...identityFiles, ...identity.defaultKeyFiles])) {
    if (!existsSync(file)) {
      if (identityFiles.includes(file)) identity.notes.push(`IdentityFile ${file} (from ~/.ssh/config) does not exist`);
      continue;
    }
    const publicKey = publicKeyOfFile(file);
    if (publicKey) identity.filePublic.set(file, publicKey);
    // The agent holds it already: no passphrase asked, no note.
    if (publicKey && identity.agentKeys.some((k) => publicLine(k) === publicKey)) continue;
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
    else {
      identity.keys.set(file, { key: withCachedSigner(parsed) });
      identity.filePublic.set(file, publicLine(parsed));
    }
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

/**
 * sshd drops the connection at its MaxAuthTries'th failed attempt (6 unless the robot's sshd_config
 * says otherwise), and every key offered that it does not trust is one.
 */
export const MAX_AUTH_TRIES = 6;

/** A key to offer: signed by the agent, or by the unlocked key of `file`. */
export interface KeyOffer {
  publicKey: string;
  from: 'agent' | { file: string };
}

/** The keys there are, as loginOrder weighs them (the pure part of authHandler). */
export interface KeyChoices {
  /** The key this robot was last logged in to with, if any. */
  remembered?: string | undefined;
  /** The key provision installs (see ensureOperatorKey). */
  installed?: string | undefined;
  agent: readonly string[];
  /** The host's IdentityFiles, then the default ~/.ssh/id_*: their public key (if known) and whether it is unlocked. */
  configured: readonly { file: string; publicKey: string | undefined; unlocked: boolean }[];
  defaults: readonly { file: string; publicKey: string | undefined; unlocked: boolean }[];
  identitiesOnly: boolean;
  /** How many keys may be offered: MAX_AUTH_TRIES, less one kept for the password. */
  budget: number;
}

/**
 * Which keys to offer, in order: the key that worked last on this robot, the key provision installed,
 * the host's IdentityFiles, the agent's keys, the default key files — each once, the first `budget`.
 * With IdentitiesOnly only the configured files (the default ones when none is), signed by the agent
 * where it holds them, as ssh does. `held` counts every key there was to offer.
 */
export function loginOrder(c: KeyChoices): { offer: KeyOffer[]; held: number } {
  const files = c.identitiesOnly && c.configured.length ? c.configured : [...c.configured, ...c.defaults];
  const allowed = c.identitiesOnly ? new Set(files.map((f) => f.publicKey)) : null;
  const held = new Map<string, KeyOffer['from']>();
  for (const k of c.agent) if (!allowed || allowed.has(k)) held.set(k, 'agent');
  for (const f of files) if (f.publicKey && f.unlocked && !held.has(f.publicKey)) held.set(f.publicKey, { file: f.file });
  const order = [c.remembered, c.installed, ...c.configured.map((f) => f.publicKey), ...c.agent, ...c.defaults.map((f) => f.publicKey)];
  const offer: KeyOffer[] = [];
  for (const publicKey of new Set(order)) {
    const from = publicKey === undefined ? undefined : held.get(publicKey);
    if (publicKey && from && offer.length < c.budget) offer.push({ publicKey, from });
  }
  return { offer, held: held.size };
}

/** One agent key alone: ssh2 offers every key an agent lists, and each one sshd refuses counts. */
class OneKeyAgent extends ssh2.BaseAgent<ParsedKey> {
  constructor(
    private readonly agent: ssh2.OpenSSHAgent,
    private readonly key: ParsedKey,
  ) {
    super();
  }
  getIdentities(cb: (err: Error | undefined, keys?: ParsedKey[]) => void) {
    cb(undefined, [this.key]);
  }
  sign(pubKey: ParsedKey, data: Buffer, options: ssh2.SigningRequestOptions, cb?: ssh2.SignCallback): void;
  sign(pubKey: ParsedKey, data: Buffer, cb: ssh2.SignCallback): void;
  sign(pubKey: ParsedKey, data: Buffer, options: ssh2.SigningRequestOptions | ssh2.SignCallback, cb?: ssh2.SignCallback) {
    if (typeof options === 'function') this.agent.sign(pubKey, data, options);
    else this.agent.sign(pubKey, data, options, cb);
  }
}

type AuthHandler = ((methodsLeft: string[] | null, partialSuccess: boolean | null, next: (attempt: object | false) => void) => void) & {
  /** The key of the last attempt made (after 'ready': the one that logged in); null after a password. */
  keyInUse: () => string | null;
  /** For the error when every attempt failed. */
  tried: () => string;
};

type Attempt = { method: string; attempt: object; key: string | null };

function keyAttempts(identity: OperatorIdentity, username: string, offer: readonly KeyOffer[]): Attempt[] {
  const agentClient = identity.agent ? new ssh2.OpenSSHAgent(identity.agent) : null;
  return offer.map(({ publicKey, from }) => {
    const agentKey = identity.agentKeys.find((k) => publicLine(k) === publicKey);
    const attempt =
      from === 'agent' && agentClient && agentKey
        ? { type: 'agent', username, agent: new OneKeyAgent(agentClient, agentKey) }
        : { type: 'publickey', username, ...identity.keys.get((from as { file: string }).file) };
    return { method: 'publickey', attempt, key: publicKey };
  });
}

/** The password, or keyboard-interactive answering every prompt with it (one of them is tried: see authHandler). */
function passwordAttempts(username: string, password: string | undefined): Attempt[] {
  if (password === undefined) return [];
  return [
    { method: 'password', attempt: { type: 'password', username, password }, key: null },
    {
      method: 'keyboard-interactive',
      attempt: {
        type: 'keyboard-interactive',
        username,
        prompt: (_n: string, _i: string, _l: string, prompts: unknown[], finish: (answers: string[]) => void) =>
          finish(prompts.map(() => password)),
      },
      key: null,
    },
  ];
}

/**
 * ssh2 auth attempts for one user, in loginOrder's order, skipping methods the server does not offer — so
 * a wrong password costs one of sshd's failure delays, not one per method.
 */
export function authHandler(identity: OperatorIdentity, login: LoginSettings, remembered?: string): AuthHandler {
  const { username, identityFiles = [] } = login;
  const file = (f: string) => ({ file: f, publicKey: identity.filePublic.get(f), unlocked: identity.keys.has(f) });
  const { password } = identity;
  const { offer, held } = loginOrder({
    remembered,
    installed: identity.installedKey,
    agent: identity.agentKeys.map(publicLine),
    configured: [...new Set(identityFiles)].map(file),
    defaults: identity.defaultKeyFiles.filter((f) => !identityFiles.includes(f)).map(file),
    identitiesOnly: Boolean(login.identitiesOnly),
    budget: MAX_AUTH_TRIES - (password === undefined ? 0 : 1),
  });
  const attempts = [...keyAttempts(identity, username, offer), ...passwordAttempts(username, password)];
  let next = 0;
  let passwordTried = false;
  let inUse: string | null = null;
  let keysOffered = 0;
  const handler = (methodsLeft: string[] | null, _partial: boolean | null, done: (attempt: object | false) => void) => {
    while (next < attempts.length) {
      const { method, attempt, key } = attempts[next++]!;
      if (methodsLeft && !methodsLeft.includes(method)) continue;
      // keyboard-interactive only where password auth is not offered (or not yet tried): same secret.
      if (method === 'keyboard-interactive' && passwordTried) continue;
      if (method === 'password') passwordTried = true;
      if (key) keysOffered++;
      inUse = key;
      return done(attempt);
    }
    return done(false);
  };
  const tried = () => {
    const cut = held - offer.length; // over the budget
    const what = [keysOffered ? `${keysOffered} key${keysOffered === 1 ? '' : 's'}` : 'no key', ...(passwordTried ? ['the password'] : [])];
    return `${what.join(', ')}${cut > 0 ? `; ${cut} more key${cut === 1 ? '' : 's'} not offered (sshd allows ${MAX_AUTH_TRIES} tries)` : ''}`;
  };
  return Object.assign(handler, { keyInUse: () => inUse, tried });
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
