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

/** A batch prints it (on stdout and on stderr) after each of its parts, with the part's exit status. */
export const PART_MARK = 'provision-part-ends';
/** A part's stdout without a limit of its own is bounded as any command's (src/ssh/boundedOutput.ts). */
const PART_OUTPUT_LIMIT = 1024 * 1024;

/** Several commands in one remote call: `parts` keeps them, to read each one's answer apart (splitBatch). */
export interface Batch extends RemoteCommand {
  parts: readonly RemoteCommand[];
}

const asCommand = (c: string | RemoteCommand): RemoteCommand => (typeof c === 'string' ? { line: c, readsSudoPassword: false } : c);

/**
 * `parts` in one remote call (one round trip instead of one each): each runs whatever the others did, in
 * order, and its output and exit status come back apart (splitBatch). The sudo password, read once, goes
 * to each part that reads it (printf is a builtin: in no argv); the rest of stdin to the others.
 */
export function batch(parts: readonly (string | RemoteCommand)[], options: { stopOnFailure?: boolean } = {}): Batch {
  const commands = parts.map(asCommand);
  // stopOnFailure: a part runs only once those before it succeeded (`a && b`, each still answered apart);
  // the call then ends with the failed part's status.
  const next = options.stopOnFailure ? '; [ "$provision_s" = 0 ] || exit "$provision_s"' : '';
  const sudo = commands.some((c) => c.readsSudoPassword);
  const end = `printf '\\n${PART_MARK} %s\\n' "$1"`;
  const line = [
    '{',
    ...(sudo ? ['IFS= read -r provision_pw'] : []),
    `provision_end() { ${end}; ${end} >&2; }`,
    ...commands.map(
      (c) =>
        `${c.readsSudoPassword ? `printf '%s\\n' "$provision_pw" | ` : ''}${c.line}; provision_s=$?; provision_end $provision_s${next}`,
    ),
    '}',
  ].join('\n');
  const outputLimit = commands.reduce((sum, c) => sum + (c.outputLimit ?? PART_OUTPUT_LIMIT) + 64, 0);
  return { line, readsSudoPassword: sudo, outputLimit, parts: commands };
}

/** Each part's answer from a batch's; a part the batch never reached failed (exit 255). */
export function splitBatch(
  result: { code: number; stdout: string; stderr: string },
  parts: readonly RemoteCommand[],
): { code: number; stdout: string; stderr: string }[] {
  const pieces = (text: string) => {
    const out: { text: string; code: number }[] = [];
    const mark = `\n${PART_MARK} `;
    let rest = text;
    for (let at = rest.indexOf(mark); at >= 0; at = rest.indexOf(mark)) {
      const eol = rest.indexOf('\n', at + mark.length);
      out.push({ text: rest.slice(0, at), code: Number(rest.slice(at + mark.length, eol < 0 ? undefined : eol)) });
      rest = eol < 0 ? '' : rest.slice(eol + 1);
    }
    return { out, rest };
  };
  const outs = pieces(result.stdout).out;
  const { out: errs, rest: lastErr } = pieces(result.stderr);
  return parts.map((part, i) => {
    const out = outs[i];
    // A part not reached says why the call ended: what it printed last (a login shell that ran
    // nothing, a killed shell), not only that it ended.
    const stderr = errs[i]?.text ?? (out ? '' : lastErr);
    const ended = `the remote call ended before this command ran (exit ${result.code})`;
    if (!out) return { code: 255, stdout: '', stderr: `${stderr}${stderr && !stderr.endsWith('\n') ? '\n' : ''}${ended}` };
    const limit = part.outputLimit ?? PART_OUTPUT_LIMIT;
    if (Buffer.byteLength(out.text) > limit)
      return { code: 1, stdout: '', stderr: `printed more than ${limit} bytes on stdout: provision does not read it` };
    return { code: out.code, stdout: out.text, stderr };
  });
}
