// The one place where remote command lines are built. Every argument is single-quoted,
// so no value from the inventory or from a robot is ever interpreted by the remote shell.

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
export function scriptWithArgs(script: string, args: readonly string[] = []): string {
  return commandLine(['sh', '-c', script, 'provision', ...args]);
}

/**
 * A command line for a robot, and whether it reads the sudo password as its first line of stdin
 * (the connection supplies that line: the password from --ask-become-pass, or an empty line).
 */
export interface RemoteCommand { line: string; readsSudoPassword: boolean }

/**
 * Defines `dk`, docker as this robot runs it. Through sudo, the first stdin line is the password
 * (kept in a shell variable, never an argument): with one, `sudo -S -k` reads it afresh for each
 * call; without, `sudo -n` fails at once instead of waiting for a prompt.
 */
function dockerPrelude(useSudo: boolean): string {
  if (!useSudo) return 'dk() { docker "$@"; }\n';
  return [
    'IFS= read -r sudo_pw',
    `dk() { if [ -n "$sudo_pw" ]; then printf '%s\\n' "$sudo_pw" | sudo -S -k -p '' docker "$@"; else sudo -n docker "$@"; fi; }`,
    '',
  ].join('\n');
}

/** A script that calls docker as `dk`, with its values as positional parameters (see scriptWithArgs). */
export function dockerScript(script: string, args: readonly string[], useSudo: boolean): RemoteCommand {
  return { line: scriptWithArgs(dockerPrelude(useSudo) + script, args), readsSudoPassword: useSudo };
}

/** One docker command: `docker ARGS…`, through sudo where the robot needs it. */
export function dockerCommand(args: readonly string[], useSudo: boolean): RemoteCommand {
  return dockerScript('dk "$@"', args, useSudo);
}

/** The command line of a plain line or a RemoteCommand. */
export function lineOf(command: string | RemoteCommand): string {
  return typeof command === 'string' ? command : command.line;
}

/** `first && then` as one remote call: `then` (with its stdin needs) runs only when `first` succeeded. */
export function andThen(first: string, then?: string | RemoteCommand): RemoteCommand {
  if (then === undefined) return { line: first, readsSudoPassword: false };
  return { line: `${first} && ${lineOf(then)}`, readsSudoPassword: typeof then !== 'string' && then.readsSudoPassword };
}
