// `provision completion bash|zsh|fish`, made from the commander program itself, so a new command or
// flag is completed without anyone keeping a list.
import type { Command, Option } from 'commander';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

interface Flag {
  long: string;
  short?: string;
  takesValue: boolean;
  choices?: readonly string[];
  file: boolean;
  help: string;
}
interface Sub {
  name: string;
  help: string;
  flags: Flag[];
}

function flagOf(o: Option): Flag {
  return {
    long: o.long as string,
    ...(o.short ? { short: o.short } : {}),
    takesValue: o.required || o.optional,
    ...(o.argChoices ? { choices: o.argChoices } : {}),
    file: /<file>/.test(o.flags),
    help: o.description,
  };
}

function commandsOf(program: Command): Sub[] {
  const help: Flag = { long: '--help', short: '-h', takesValue: false, file: false, help: 'show help for the command' };
  return program.commands.map((c) => ({ name: c.name(), help: c.description(), flags: [...c.options.map(flagOf), help] }));
}

/** For a single-quoted word in bash and zsh. */
const sq = (s: string) => s.replace(/'/g, `'\\''`);
const namesOf = (f: Flag) => [f.long, ...(f.short ? [f.short] : [])];
const short = (s: string) => s.replace(/\s+/g, ' ').slice(0, 70);
// Commander names are plain, but nothing odd reaches a script.
const word = (s: string) => s.replace(/[^A-Za-z0-9_.:/=-]/g, '');

function bash(name: string, subs: Sub[]): string {
  const cmds = subs.map((s) => s.name).join(' ');
  const values = subs.flatMap((s) =>
    s.flags
      .filter((f) => f.takesValue)
      .flatMap((f) => {
        const action = f.choices
          ? `COMPREPLY=($(compgen -W '${f.choices.map(word).join(' ')}' -- "$cur"))`
          : f.file
            ? `COMPREPLY=($(compgen -f -- "$cur"))`
            : 'COMPREPLY=()';
        return namesOf(f).map((flag) => `    '${s.name} ${word(flag)}') ${action}; return ;;`);
      }),
  );
  return `# ${name} completion for bash. Load it with: source <(${name} completion bash)
_${name}_complete() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} cmd=\${COMP_WORDS[1]}
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W '${cmds} --help --version' -- "$cur"))
    return
  fi
  case "$cmd $prev" in
${values.join('\n')}
  esac
  local opts=
  case "$cmd" in
${subs.map((s) => `    ${word(s.name)}) opts='${s.flags.flatMap(namesOf).map(word).join(' ')}' ;;`).join('\n')}
  esac
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -o default -F _${name}_complete ${name}
`;
}

function zsh(name: string, subs: Sub[]): string {
  // Descriptions lose the characters _arguments gives meaning to.
  const desc = (s: string) => sq(short(s).replace(/[[\]:]/g, ' '));
  const spec = (f: Flag) => {
    const value = f.takesValue ? (f.choices ? `:value:(${f.choices.map(word).join(' ')})` : f.file ? ':file:_files' : ':value:') : '';
    const names = f.short ? `'(${word(f.short)} ${word(f.long)})'{${word(f.short)},${word(f.long)}}` : `'${word(f.long)}`;
    return f.short ? `${names}'[${desc(f.help)}]${value}'` : `${names}[${desc(f.help)}]${value}'`;
  };
  return `#compdef ${name}
# ${name} completion for zsh. Load it with: source <(${name} completion zsh)
# (or save it as _${name} in a directory of $fpath)
_${name}() {
  local -a commands
  commands=(
${subs.map((s) => `    '${word(s.name)}:${desc(s.help)}'`).join('\n')}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  shift words
  (( CURRENT-- ))
  case $words[1] in
${subs.map((s) => `    ${word(s.name)}) _arguments -s \\\n      ${s.flags.map(spec).join(' \\\n      ')} ;;`).join('\n')}
  esac
}
if (( $+functions[compdef] )); then compdef _${name} ${name}; else _${name} "$@"; fi
`;
}

function fish(name: string, subs: Sub[]): string {
  const fq = (s: string) => `'${short(s).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const lines = [`# ${name} completion for fish. Load it with: ${name} completion fish | source`, `complete -c ${name} -f`];
  lines.push(
    `complete -c ${name} -n __fish_use_subcommand -s h -l help -d 'show help'`,
    `complete -c ${name} -n __fish_use_subcommand -s V -l version -d 'show the version'`,
  );
  for (const s of subs) {
    lines.push(`complete -c ${name} -n __fish_use_subcommand -a ${word(s.name)} -d ${fq(s.help)}`);
    for (const f of s.flags) {
      const names = `${f.short ? `-s ${word(f.short).slice(1)} ` : ''}-l ${word(f.long).slice(2)}`;
      const value = f.takesValue ? (f.choices ? ` -x -a '${f.choices.map(word).join(' ')}'` : f.file ? ' -r -F' : ' -x') : '';
      lines.push(`complete -c ${name} -n '__fish_seen_subcommand_from ${word(s.name)}' ${names}${value} -d ${fq(f.help)}`);
    }
  }
  return lines.join('\n') + '\n';
}

export function completionScript(program: Command, shell: Shell): string {
  const subs = commandsOf(program);
  const name = word(program.name());
  return shell === 'bash' ? bash(name, subs) : shell === 'zsh' ? zsh(name, subs) : fish(name, subs);
}
