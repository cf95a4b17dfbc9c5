// The one place where remote command lines are built. Every argument is single-quoted,
// so no value from the inventory or from a robot is ever interpreted by the remote shell.
import { script } from './scripts.js';

/** Quote one argument for a POSIX shell. */
export function quote(arg: string): string {
  if (arg === '') return "''";
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Build a command line from argv: each element quoted once. */
export function commandLine(argv: readonly string[]): string {
  return argv.map(quote).join(' ');
}

/**
 * A fixed shell script (written by us, never from input) that receives its values as
 * positional parameters: `sh -c SCRIPT provision ARG1 ARG2 …`. Values stay data.
 */
export function scriptWithArgs(body: string, args: readonly string[] = []): string {
  return commandLine(['sh', '-c', body, 'provision', ...args]);
}

/** scripts/NAME.sh (scripts.ts) with its values as positional parameters. */
export function remoteScript(name: string, args: readonly string[] = []): string {
  return scriptWithArgs(script(name), args);
}

/**
 * A command line for a robot, and whether it reads the sudo password as its first line of stdin
 * (the connection supplies that line: the password from --ask-become-pass, or an empty line).
 */
export interface RemoteCommand {
  line: string;
  readsSudoPassword: boolean;
}

/** Defines `dk`, docker as this robot runs it: directly, or through sudo. */
function dockerPrelude(useSudo: boolean): string {
  return useSudo ? script('dk-sudo') : 'dk() { docker "$@"; }\n';
}

/** A script that calls docker as `dk`, with its values as positional parameters (see scriptWithArgs). */
export function dockerScript(body: string, args: readonly string[], useSudo: boolean): RemoteCommand {
  return { line: scriptWithArgs(dockerPrelude(useSudo) + body, args), readsSudoPassword: useSudo };
}

/** One docker command: `docker ARGS…`, through sudo where the robot needs it. */
export function dockerCommand(args: readonly string[], useSudo: boolean): RemoteCommand {
  return dockerScript('dk "$@"', args, useSudo);
}

/** The command line of a plain line or a RemoteCommand. */
export function lineOf(command: string | RemoteCommand): string {
  return typeof command === 'string' ? command : command.line;
}

/** The line a remote command prints first on stdout and stderr, once /bin/sh has taken over from the login shell. */
export const OUTPUT_MARK = 'provision-output-begins';

/**
 * The line sent over SSH for a POSIX command line. sshd runs it through the user's login shell
 * (`$SHELL -c LINE`), which may be bash, zsh, fish or tcsh and may print greetings before anything
 * else. So the POSIX line travels base64-encoded inside one single-quoted word free of the characters
 * those shells treat specially even within single quotes (backslash, '!', newline): every login shell
 * hands the same text to /bin/sh. /bin/sh prints OUTPUT_MARK first on both streams; whatever comes
 * before it is the login shell talking (see splitAtMark).
 */
export function forAnyLoginShell(line: string): string {
  const encoded = Buffer.from(line, 'utf8').toString('base64');
  return `exec /bin/sh -c 'echo ${OUTPUT_MARK}; echo ${OUTPUT_MARK} >&2; c=$(echo ${encoded} | base64 -d) && eval "$c"'`;
}

/** A stream of a command sent with forAnyLoginShell: what the login shell printed before the mark, and the command's own output. */
export function splitAtMark(text: string): { marked: boolean; before: string; output: string } {
  const at = text.indexOf(OUTPUT_MARK + '\n');
  if (at < 0) return { marked: false, before: text, output: '' };
  return { marked: true, before: text.slice(0, at), output: text.slice(at + OUTPUT_MARK.length + 1) };
}

/** `first && then` as one remote call: `then` (with its stdin needs) runs only when `first` succeeded. */
export function andThen(first: string, then?: string | RemoteCommand): RemoteCommand {
  if (then === undefined) return { line: first, readsSudoPassword: false };
  return { line: `${first} && ${lineOf(then)}`, readsSudoPassword: typeof then !== 'string' && then.readsSudoPassword };
}
