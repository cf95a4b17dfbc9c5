// `provision completion bash|zsh|fish` on the built CLI (npm run build first): each shell accepts the
// script, it names every command that `provision --help` lists, and bash and fish really complete.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const dir = mkdtempSync(join(tmpdir(), 'provision-completion-'));
const scripts: Record<string, string> = {};
let commands: string[] = [];

function sh(shell: string, args: string[]): { code: number; out: string } {
  const r = spawnSync(shell, args, { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: dir }, timeout: 20_000 });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: npm run build first`);
  for (const shell of ['bash', 'zsh', 'fish']) {
    const r = spawnSync(process.execPath, [CLI, 'completion', shell], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    scripts[shell] = r.stdout;
    writeFileSync(join(dir, `provision.${shell}`), r.stdout);
  }
  // The commands as commander lists them: the test keeps no list of its own either.
  const help = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' }).stdout;
  commands = [...(help.split('Commands:')[1] ?? '').matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1] as string).filter((c) => c !== 'help');
});

describe.each(['bash', 'zsh', 'fish'])('%s', (shell) => {
  it('the shell accepts the script (-n)', () => {
    const r = sh(shell, ['-n', join(dir, `provision.${shell}`)]);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  });

  it('names every command and its flags', () => {
    expect(commands).toEqual(
      expect.arrayContaining(['keys', 'swarm', 'status', 'rotate', 'reset', 'recover', 'roles', 'init', 'completion']),
    );
    for (const c of commands) expect(scripts[shell]).toMatch(new RegExp(`\\b${c}\\b`));
    for (const flag of ['inventory', 'dry-run', 'no-verify', 'install-service', 'token', 'robot']) expect(scripts[shell]).toContain(flag);
  });
});

describe('completing for real', () => {
  const bashComplete = (words: string[]) =>
    sh('bash', [
      '-c',
      `source ${join(dir, 'provision.bash')}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _provision_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ])
      .out.trim()
      .split('\n');
  const fishComplete = (line: string) =>
    sh('fish', ['-c', `source ${join(dir, 'provision.fish')}; complete -C '${line}'`])
      .out.trim()
      .split('\n')
      .map((l) => l.split('\t')[0]);

  it("bash: commands, a command's flags, a flag's choices", () => {
    expect(bashComplete(['provision', 'r'])).toEqual(['roles', 'rotate', 'remove', 'reset', 'recover']);
    expect(bashComplete(['provision', 'keys', '--no'])).toEqual(['--no-verify', '--no-color']);
    expect(bashComplete(['provision', 'rotate', '--token', ''])).toEqual(['worker', 'manager', 'both']);
  });

  it("fish: commands, a command's flags, a flag's choices", () => {
    expect(fishComplete('provision re')).toEqual(expect.arrayContaining(['reset', 'recover']));
    expect(fishComplete('provision swarm --inst')).toEqual(['--install-service']);
    expect(fishComplete('provision rotate --token ')).toEqual(expect.arrayContaining(['worker', 'manager', 'both']));
  });
});
