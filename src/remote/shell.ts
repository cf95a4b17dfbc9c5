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

/** Prefix a docker argv with `sudo -n` where the robot needs it (never prompts). */
export function dockerArgv(args: readonly string[], useSudo: boolean): string[] {
  return useSudo ? ['sudo', '-n', 'docker', ...args] : ['docker', ...args];
}
