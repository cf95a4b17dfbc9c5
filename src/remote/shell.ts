// The one place where remote command lines are built. Every argument is single-quoted,
// so no value from the inventory or from a robot is ever interpreted by the remote shell.
import { script } from './scripts.js';

export function quote(arg: string): string {
  if (arg === '') return "''";
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(argv: readonly string[]): string {
  return argv.map(quote).join(' ');
}

/** A fixed script (ours, never from input) run as `sh -c SCRIPT provision ARG…`: values stay data. */
export function scriptWithArgs(body: string, args: readonly string[] = []): string {
  return commandLine(['sh', '-c', body, 'provision', ...args]);
}

export function remoteScript(name: string, args: readonly string[] = []): string {
  return scriptWithArgs(script(name), args);
}

/** A command line, and whether it reads the sudo password as its first stdin line (the connection sends it, or an empty line). */
export interface RemoteCommand {
  line: string;
  readsSudoPassword: boolean;
  /** Bytes of stdout kept before the command fails as a flood (default OUTPUT_LIMIT_BYTES). */
  outputLimit?: number;
}

/** A script that calls docker as `dk`: directly, or through sudo. */
export function dockerScript(body: string, args: readonly string[], useSudo: boolean): RemoteCommand {
  const prelude = useSudo ? script('dk-sudo') : 'dk() { docker "$@"; }\ndk_in() { docker "$@"; }\n';
  return { line: scriptWithArgs(prelude + body, args), readsSudoPassword: useSudo };
}

export function dockerCommand(args: readonly string[], useSudo: boolean): RemoteCommand {
  return dockerScript('dk "$@"', args, useSudo);
}

export function lineOf(command: string | RemoteCommand): string {
  return typeof command === 'string' ? command : command.line;
}

/** Printed first on stdout and stderr once /bin/sh has taken over from the login shell. */
export const OUTPUT_MARK = 'provision-output-begins';

/**
 * sshd runs the line through the login shell (bash, zsh, fish or tcsh, maybe printing greetings), so it
 * travels base64-encoded in one single-quoted word free of what those shells treat specially even
 * within single quotes (backslash, '!', newline). What comes before OUTPUT_MARK is the login shell's.
 */
export function forAnyLoginShell(line: string): string {
  const encoded = Buffer.from(line, 'utf8').toString('base64');
  return `exec /bin/sh -c 'echo ${OUTPUT_MARK}; echo ${OUTPUT_MARK} >&2; c=$(echo ${encoded} | base64 -d) && eval "$c"'`;
}

/** A stream of forAnyLoginShell's command: what the login shell printed before the mark, and the command's output. */
export function splitAtMark(text: string): { marked: boolean; before: string; output: string } {
  const at = text.indexOf(OUTPUT_MARK + '\n');
  if (at < 0) return { marked: false, before: text, output: '' };
  return { marked: true, before: text.slice(0, at), output: text.slice(at + OUTPUT_MARK.length + 1) };
}

/** `first && then` as one remote call: `then` runs only once `first` succeeded. */
export function andThen(first: string, then?: string | RemoteCommand): RemoteCommand {
  if (then === undefined) return { line: first, readsSudoPassword: false };
  if (typeof then === 'string') return { line: `${first} && ${then}`, readsSudoPassword: false };
  return { ...then, line: `${first} && ${then.line}` };
}
