// The operator's OpenSSH client config (~/.ssh/config), applied the way ssh(1) applies it
// (ssh_config(5)): blocks in file order, the first obtained value wins, Include is read inline.
// Everything is pure except loadSshConfig.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import type { OperatorSshLookup } from '../inventory/load.js';

interface SshConfigEntry {
  keyword: string;
  args: string[];
  file: string;
  line: number;
}
/** `within`: the Host/Match block an Include of this block's file sat in, which must match too. */
interface SshConfigBlock {
  kind: 'host' | 'match' | 'global';
  patterns: string[];
  entries: SshConfigEntry[];
  file: string;
  line: number;
  within?: SshConfigBlock;
}
export interface SshConfig {
  blocks: SshConfigBlock[];
  warnings: string[];
}
interface JumpHost {
  user?: string;
  host: string;
  port?: number;
}
interface HostSettings {
  user?: string;
  port?: number;
  hostName?: string;
  identityFiles: string[];
  identitiesOnly?: boolean;
  proxyJump: JumpHost[];
  connectTimeoutSeconds?: number;
  strictHostKeyChecking?: string;
  serverAliveIntervalSeconds?: number;
  userKnownHostsFiles?: string[];
  globalKnownHostsFiles?: string[];
  hashKnownHosts?: boolean;
}
type ReadInclude = (pattern: string) => { file: string; text: string }[];

const MAX_INCLUDE_DEPTH = 16; // OpenSSH's READCONF_MAX_DEPTH

/** An ssh pattern (`*`, `?`; anything else literal, so known_hosts' [host]:port is no class) as a RegExp. */
const compiled = new Map<string, RegExp>();
/** Compiled once per pattern: known_hosts and config lookups test every robot against every line. */
export function globRegExp(pattern: string, flags = ''): RegExp {
  const cached = compiled.get(`${flags}/${pattern}`);
  if (cached) return cached;
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  const re = new RegExp(`^${body}$`, flags);
  compiled.set(`${flags}/${pattern}`, re);
  return re;
}

/** ssh's pattern-list rule: some pattern matches some name, and no negated pattern matches any. */
export function patternListMatches(
  patterns: string[],
  names: string[],
  matches = (pattern: string, name: string) => globRegExp(pattern, 'i').test(name),
): boolean {
  let hit = false;
  for (const p of patterns) {
    const negated = p.startsWith('!');
    if (!names.some((n) => matches(negated ? p.slice(1) : p, n))) continue;
    if (negated) return false;
    hit = true;
  }
  return hit;
}

/** Arguments as OpenSSH's argv_split reads them: quotes group, backslash escapes, a word starting with # ends the line. Null on an open quote. */
function splitArgs(s: string): string[] | null {
  const args: string[] = [];
  let word: string | undefined;
  let quote = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    const next = s[i + 1];
    if (c === '\\' && next !== undefined && '\\"\' '.includes(next)) {
      word = (word ?? '') + next;
      i++;
    } else if (quote) {
      if (c === quote) quote = '';
      else word = (word ?? '') + c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (/\s/.test(c)) {
      if (word !== undefined) args.push(word);
      word = undefined;
    } else if (c === '#' && word === undefined) break;
    else word = (word ?? '') + c;
  }
  if (quote) return null;
  if (word !== undefined) args.push(word);
  return args;
}

function portOf(s: string): number | undefined {
  const n = /^\d{1,5}$/.test(s) ? Number(s) : 0;
  return n >= 1 && n <= 65535 ? n : undefined;
}
const TIME_UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
/** OpenSSH's convtime: 30, 30s, 1m30s, 2h. */
function parseSeconds(arg: string): number {
  if (!/^(?:\d+[smhdw])*\d+[smhdw]?$/i.test(arg)) throw new Error('not a time like 30, 30s or 1m30s');
  let total = 0;
  for (const [, n, unit] of arg.matchAll(/(\d+)([smhdw]?)/gi)) total += Number(n) * TIME_UNITS[unit!.toLowerCase()]!;
  return total;
}
function parseFlag(arg: string): boolean {
  const v = arg.toLowerCase();
  if (!['yes', 'true', 'no', 'false'].includes(v)) throw new Error('expected yes or no');
  return v === 'yes' || v === 'true';
}
function parseStrict(arg: string): string {
  const v = arg.toLowerCase();
  if (!['yes', 'no', 'ask', 'accept-new', 'off', 'true', 'false'].includes(v)) throw new Error('expected yes, no, ask, accept-new or off');
  return v;
}
/** A checker refusing %-tokens we can't expand (ssh would refuse unknown ones too). */
function tokensOnly(allowed: string) {
  return (arg: string) => {
    for (const [, t = ''] of arg.matchAll(/%(.?)/g)) {
      if (t !== '%' && (t === '' || !allowed.includes(t))) throw new Error(`"%${t}" is not supported here`);
    }
  };
}
const withHome = (path: string, home: string) => path.replace(/^~(?=\/|$)/, () => home);
function expandTokens(s: string, vars: Record<string, string>): string {
  return s.replace(/%(.)/g, (token, c: string) => (c === '%' ? '%' : (vars[c] ?? token)));
}

function parseJumps(spec: string): JumpHost[] {
  return spec.split(',').map((element) => {
    if (element === '') throw new Error('empty element');
    let rest = /^ssh:\/\//i.test(element) ? element.slice(6).replace(/\/$/, '') : element;
    const at = rest.lastIndexOf('@');
    const user = at >= 0 ? rest.slice(0, at) : undefined;
    if (user === '') throw new Error(`empty user in "${element}"`);
    rest = rest.slice(at + 1);
    const m = /^(?:\[([^\]]+)\]|([^\s:[\]/]+))(?::(.*))?$/.exec(rest);
    if (!m) throw new Error(`bad host in "${element}" (an IPv6 address goes in brackets)`);
    const jump: JumpHost = { host: (m[1] ?? m[2])! };
    if (user !== undefined) jump.user = user;
    if (m[3] !== undefined) {
      jump.port = portOf(m[3]);
      if (jump.port === undefined) throw new Error(`port "${m[3]}" in "${element}" is not in 1..65535`);
    }
    return jump;
  });
}
export function parseProxyJump(spec: string): JumpHost[] {
  try {
    return parseJumps(spec);
  } catch (e) {
    throw new Error(`ProxyJump "${spec}": ${(e as Error).message}`);
  }
}

/** Keywords hostSettings interprets: a bad value is dropped at parse time with a warning, as if absent. */
const CHECKS: Record<string, (arg: string) => unknown> = {
  user: () => undefined,
  identityfile: tokensOnly('dhnpru'),
  hostname: tokensOnly('h'),
  port: (a) => {
    if (portOf(a) === undefined) throw new Error('not an integer in 1..65535');
  },
  connecttimeout: parseSeconds,
  serveraliveinterval: parseSeconds,
  identitiesonly: parseFlag,
  stricthostkeychecking: parseStrict,
  proxyjump: (a) => a.toLowerCase() === 'none' || parseJumps(a),
  hashknownhosts: parseFlag,
};
/** Keywords taking a list of files (each checked like IdentityFile); `none` only alone, as ssh requires. */
const FILE_LISTS = new Set(['userknownhostsfile', 'globalknownhostsfile']);
function checkFileList(args: string[]): void {
  if (!args.length) throw new Error('expects one or more files');
  if (args.length > 1 && args.some((a) => a.toLowerCase() === 'none')) throw new Error('"none" must appear alone');
  for (const a of args) tokensOnly('dhnpru')(a);
}

/** Why a Match line can't be evaluated here (only `all` and `host` can), or undefined. */
function unsupportedMatch(args: string[]): string | undefined {
  if (args.length === 0) return 'Match without criteria';
  for (let i = 0; i < args.length; i++) {
    const criterion = args[i]!.replace(/^!/, '').toLowerCase();
    if (criterion === 'all') continue;
    if (criterion === 'host') {
      if (args[++i] === undefined) return 'Match host without patterns';
      continue;
    }
    if (criterion === 'user') return 'Match user: the remote user is not known yet, treated as not matching';
    return `Match ${criterion} is not supported`;
  }
  return undefined;
}
function matchApplies(args: string[], hostNames: string[]): boolean {
  if (unsupportedMatch(args)) return false;
  for (let i = 0; i < args.length; i++) {
    const negated = args[i]!.startsWith('!');
    const hit = args[i]!.replace(/^!/, '').toLowerCase() === 'all' || patternListMatches(args[++i]!.split(','), hostNames);
    if (hit === negated) return false;
  }
  return true;
}

/** One file being read; `enclosing`: the Host/Match block its Include sat in. */
interface Reading {
  config: SshConfig;
  file: string;
  depth: number;
  readInclude?: ReadInclude;
  enclosing?: SshConfigBlock;
  cond?: SshConfigBlock; // the Host/Match condition the next entries fall under
  open?: SshConfigBlock; // where they go; created on the first entry
}

/** `readInclude(pattern)` reads the files an Include names, globbed and resolved against ~/.ssh. */
export function parseSshConfig(text: string, file: string, readInclude?: ReadInclude): SshConfig {
  const config: SshConfig = { blocks: [], warnings: [] };
  parseInto({ config, file, depth: 0, readInclude }, text);
  return config;
}

function parseInto(r: Reading, text: string): void {
  text.split('\n').forEach((line, i) => parseLine(r, line.trim(), i + 1));
}

function warn(r: Reading, line: number, message: string): void {
  r.config.warnings.push(`${r.file}:${line}: ${message}`);
}

function parseLine(r: Reading, s: string, n: number): void {
  if (s === '' || s.startsWith('#')) return;
  const m = /^([^\s=]+)(?:\s*=\s*|\s+|$)(.*)$/.exec(s);
  const args = m ? splitArgs(m[2]!) : null;
  if (!m || !args) return warn(r, n, `cannot parse "${s}"; line ignored`);
  const keyword = m[1]!.toLowerCase();
  if (keyword === 'host' || keyword === 'match') {
    const problem = keyword === 'match' ? unsupportedMatch(args) : args.length ? undefined : 'Host without patterns';
    if (problem) warn(r, n, `${problem}; this block is never applied`);
    r.cond = r.open = newBlock(r, keyword, args, r.enclosing, n);
  } else if (keyword === 'include') include(r, args, n);
  else addEntry(r, m[1]!, keyword, args, n);
}

function include(r: Reading, patterns: string[], n: number): void {
  if (!r.readInclude) return warn(r, n, 'Include is not followed here; ignored');
  if (r.depth >= MAX_INCLUDE_DEPTH) return warn(r, n, `Include nested deeper than ${MAX_INCLUDE_DEPTH} levels (a loop?); ignored`);
  for (const pattern of patterns) {
    for (const inc of r.readInclude(pattern))
      parseInto({ ...r, file: inc.file, depth: r.depth + 1, enclosing: r.cond, open: undefined }, inc.text);
  }
  r.open = undefined; // entries after the Include come after the included blocks, still under `cond`
}

function addEntry(r: Reading, written: string, keyword: string, args: string[], n: number): void {
  const check = CHECKS[keyword];
  if (check && args.length !== 1) return warn(r, n, `${written} expects one argument; ignored`);
  try {
    if (FILE_LISTS.has(keyword)) checkFileList(args);
    else check?.(args[0]!);
  } catch (e) {
    return warn(r, n, `${written} "${args.join(' ')}": ${(e as Error).message}; ignored`);
  }
  if (keyword === 'proxycommand' && args.join(' ').toLowerCase() !== 'none') {
    warn(r, n, 'ProxyCommand is not supported (use ProxyJump); hosts it applies to are reached directly');
  }
  r.open ??= newBlock(r, r.cond?.kind ?? 'global', r.cond?.patterns ?? [], r.cond?.within, n);
  r.open.entries.push({ keyword, args, file: r.file, line: n });
}

function newBlock(r: Reading, kind: SshConfigBlock['kind'], patterns: string[], within: SshConfigBlock | undefined, line: number) {
  const block: SshConfigBlock = { kind, patterns, entries: [], file: r.file, line, ...(within ? { within } : {}) };
  r.config.blocks.push(block);
  return block;
}

function applies(block: SshConfigBlock, names: string[], hostName: string | undefined): boolean {
  if (block.within && !applies(block.within, names, hostName)) return false;
  if (block.kind === 'host') return patternListMatches(block.patterns, names);
  // Like ssh, `Match host` sees the HostName obtained so far, if any.
  if (block.kind === 'match') return matchApplies(block.patterns, hostName === undefined ? names : [hostName]);
  return true;
}

/** What applies to a host known by `names` (e.g. the robot's name and address); IdentityFile accumulates, ProxyJump `none` means no jump. */
export function hostSettings(config: SshConfig, names: string[], context: { localUser: string; home: string }): HostSettings {
  const s: HostSettings = { identityFiles: [], proxyJump: [] };
  const name = names[0] ?? '';
  let proxyChosen = false; // ProxyJump and ProxyCommand compete: whichever comes first wins
  for (const block of config.blocks) {
    if (!applies(block, names, s.hostName)) continue;
    for (const { keyword, args } of block.entries) {
      const arg = args[0] ?? '';
      if (keyword !== 'proxyjump' && keyword !== 'proxycommand') obtain(s, keyword, args, name);
      else if (!proxyChosen) {
        proxyChosen = true;
        if (keyword === 'proxyjump' && arg.toLowerCase() !== 'none') s.proxyJump = parseJumps(arg);
      }
    }
  }
  // Expanded last, as ssh does, so %r and %p see the final User and Port.
  const vars = {
    h: s.hostName ?? name,
    n: name,
    p: String(s.port ?? 22),
    r: s.user ?? context.localUser,
    u: context.localUser,
    d: context.home,
  };
  const expand = (f: string) => expandTokens(withHome(f, context.home), vars);
  s.identityFiles = [...new Set(s.identityFiles.map(expand))];
  // `none`: no file at all (ssh then reads, and records into, nothing of that kind). ${VAR} as ssh expands
  // it here: taken literally, the file the operator's keys are pinned in would not be read at all.
  const env = (f: string) => f.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, v: string) => process.env[v] ?? whole);
  const files = (list: string[]) => (list.length === 1 && list[0]!.toLowerCase() === 'none' ? [] : list.map((f) => expand(env(f))));
  if (s.userKnownHostsFiles) s.userKnownHostsFiles = files(s.userKnownHostsFiles);
  if (s.globalKnownHostsFiles) s.globalKnownHostsFiles = files(s.globalKnownHostsFiles);
  return s;
}

function obtain(s: HostSettings, keyword: string, args: string[], name: string): void {
  const arg = args[0] ?? '';
  switch (keyword) {
    case 'user':
      s.user ??= arg;
      break;
    case 'port':
      s.port ??= portOf(arg);
      break;
    case 'hostname':
      s.hostName ??= expandTokens(arg, { h: name });
      break;
    case 'identityfile':
      s.identityFiles.push(arg);
      break;
    case 'identitiesonly':
      s.identitiesOnly ??= parseFlag(arg);
      break;
    case 'stricthostkeychecking':
      s.strictHostKeyChecking ??= parseStrict(arg);
      break;
    case 'connecttimeout':
      s.connectTimeoutSeconds ??= parseSeconds(arg);
      break;
    case 'serveraliveinterval':
      s.serverAliveIntervalSeconds ??= parseSeconds(arg);
      break;
    // The first line's whole list wins, as in ssh.
    case 'userknownhostsfile':
      s.userKnownHostsFiles ??= args;
      break;
    case 'globalknownhostsfile':
      s.globalKnownHostsFiles ??= args;
      break;
    case 'hashknownhosts':
      s.hashKnownHosts ??= parseFlag(arg);
  }
}

/** Read ~/.ssh/config and its Includes (globbing only the last path element); a missing file gives an empty config. */
export function loadSshConfig(home: string): SshConfig {
  const sshDir = join(home, '.ssh');
  const file = join(sshDir, 'config');
  if (!existsSync(file)) return { blocks: [], warnings: [] };
  const readInclude: ReadInclude = (pattern) => {
    const path = withHome(pattern, home);
    const full = isAbsolute(path) ? path : join(sshDir, path);
    const dir = dirname(full);
    const name = basename(full);
    const re = globRegExp(name);
    // Like glob(3), a wildcard does not match a leading dot.
    const files = !/[*?]/.test(name)
      ? [full]
      : existsSync(dir)
        ? readdirSync(dir)
            .filter((f) => re.test(f) && (!f.startsWith('.') || name.startsWith('.')))
            .sort()
            .map((f) => join(dir, f))
        : [];
    return files.filter((f) => existsSync(f) && statSync(f).isFile()).map((f) => ({ file: f, text: readFileSync(f, 'utf8') }));
  };
  return parseSshConfig(readFileSync(file, 'utf8'), file, readInclude);
}

/** What ~/.ssh/config says for each robot, by name and address, and for each ProxyJump hop (whose own ProxyJump is not followed). */
export function operatorSshLookup(config: SshConfig, context: { localUser: string; home: string }): OperatorSshLookup {
  const tuning = (h: HostSettings) => ({
    ...(h.connectTimeoutSeconds !== undefined ? { connectTimeoutSeconds: h.connectTimeoutSeconds } : {}),
    ...(h.serverAliveIntervalSeconds !== undefined ? { keepaliveSeconds: h.serverAliveIntervalSeconds } : {}),
    ...(h.strictHostKeyChecking !== undefined ? { strictHostKeyChecking: h.strictHostKeyChecking } : {}),
    ...(h.userKnownHostsFiles !== undefined ? { userKnownHostsFiles: h.userKnownHostsFiles } : {}),
    ...(h.globalKnownHostsFiles !== undefined ? { globalKnownHostsFiles: h.globalKnownHostsFiles } : {}),
    ...(h.hashKnownHosts !== undefined ? { hashKnownHosts: h.hashKnownHosts } : {}),
  });
  return (name, ip) => {
    const s = hostSettings(config, [name, ip], context);
    const jumps = s.proxyJump.map((hop) => {
      const h = hostSettings(config, [hop.host], context);
      return {
        name: hop.host,
        host: h.hostName ?? hop.host,
        port: hop.port ?? h.port ?? 22,
        user: hop.user ?? h.user ?? context.localUser,
        identityFiles: h.identityFiles,
        identitiesOnly: h.identitiesOnly ?? false,
        ...tuning(h),
      };
    });
    return {
      ...(s.user !== undefined ? { user: s.user } : {}),
      ...(s.port !== undefined ? { port: s.port } : {}),
      ssh: { identityFiles: s.identityFiles, identitiesOnly: s.identitiesOnly ?? false, jumps, ...tuning(s) },
    };
  };
}
