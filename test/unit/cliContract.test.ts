// The command line's contract, on the built CLI (npm run build first; npm test does): usage errors exit 2
// in one line with a hint, --json errors are JSON on stdout, validation comes before any prompt or
// connection, init, PROVISION_INVENTORY, the schema file. No robot is contacted: inventories point at
// 127.0.0.1 ports where nothing listens, so a connection attempt would show as exit 1, not 2.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InventoryError, parseInventory } from '../../src/inventory/load.js';
import { COMMANDS, inputErrorsSchema, jsonSchemaDocument } from '../../src/ui/json.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const CLI = join(ROOT, 'dist', 'cli.js');
let dir: string;

function run(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: dir,
    encoding: 'utf8',
    input: '', // stdin is not a terminal: nothing may be asked
    env: { PATH: process.env.PATH ?? '', HOME: join(dir, 'home'), PROVISION_LOG_DIR: join(dir, 'log'), ...env },
    timeout: 20_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const VALID = `robots:
  - name: Anton
    ip: 127.0.0.1
    port: 1
  - name: Ida
    ip: 127.0.0.1
    port: 2
`;

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: npm run build first`);
  dir = mkdtempSync(join(tmpdir(), 'provision-cli-'));
  mkdirSync(join(dir, 'home'));
  writeFileSync(join(dir, 'valid.yaml'), VALID);
  writeFileSync(join(dir, 'empty.yaml'), '');
  // Problems out of the schema's order: robots (line 1) before swarm (line 5).
  writeFileSync(join(dir, 'bad.yaml'), 'robots:\n  - name: Anton\n    ip: 300.1.1.1\n    port: 1\nswarm: { managers: many }\n');
});

describe('usage errors: exit 2, one line with a hint, never the whole help', () => {
  const cases: [string[], string, RegExp][] = [
    [['keys', '--bogus'], 'keys', /unknown option '--bogus'/],
    [['nosuch'], '', /unknown command 'nosuch'/],
    [['keys', '--connect-timeout', '0'], 'keys', /--connect-timeout.*'0' is invalid.*positive whole number/],
    [['rotate', '--token', 'all'], 'rotate', /'all' is invalid.*worker, manager, both/],
    [['recover'], 'recover', /required option '--on <robot>'/],
    [['status', 'extra'], 'status', /too many arguments/],
    [['completion', 'tcsh'], 'completion', /'tcsh' is invalid.*bash, zsh, fish/],
  ];
  it.each(cases)('%j', (args, command, message) => {
    const r = run(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain(`(provision${command ? ` ${command}` : ''} --help for more)`);
    expect(r.stderr).not.toMatch(/Usage:/);
  });

  it.each(cases.filter(([args]) => args[0] !== 'completion'))('%j with --json: the errors as JSON on stdout', (args, command, message) => {
    const r = run([...args, '--json']);
    expect(r.code).toBe(2);
    const out = inputErrorsSchema.parse(JSON.parse(r.stdout));
    expect(out.command).toBe(command || null);
    expect(out.errors[0]?.message).toMatch(message);
  });

  it('--help and --version still exit 0; provision alone shows the help and exits 2', () => {
    expect(run(['--help']).code).toBe(0);
    expect(run(['keys', '--help']).stdout).toMatch(/--no-verify/);
    expect(run(['--version']).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const bare = run([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/Commands:/);
  });
});

describe('bad input of every command: JSON errors, before any prompt and any connection', () => {
  const connecting = COMMANDS.filter((c) => c !== 'init');
  const extra = (c: string) => (c === 'recover' ? ['--on', 'Anton'] : c === 'remove' ? ['Anton'] : []);

  it.each(connecting)('%s -i bad.yaml --json: every problem with line, robot, field, in file order', (command) => {
    const r = run([command, '-i', 'bad.yaml', ...extra(command), '--json']);
    expect(r.code).toBe(2);
    const out = inputErrorsSchema.parse(JSON.parse(r.stdout));
    expect(out.command).toBe(command);
    expect(out.errors).toEqual([
      { line: 3, robot: 'Anton', field: 'ip', message: expect.stringMatching(/static IPv4.*"300.1.1.1"/) },
      { line: 5, field: 'swarm.managers', message: expect.any(String) },
    ]);
  });

  it.each(connecting)('%s with no inventory: where it looked and provision init', (command) => {
    const r = run([command, ...extra(command)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`no inventory at ${join(dir, 'inventory', 'robots.yaml')}`);
    expect(r.stderr).toMatch(/provision init/);
  });

  it('an empty inventory says so, not "expected object, received null"', () => {
    const r = run(['keys', '-i', 'empty.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the file is empty/);
    expect(r.stderr).not.toMatch(/received|ENOENT|EISDIR|Invalid input/);
  });

  it('a directory at ~/.ssh/config is named in words, not EISDIR', () => {
    const home = join(dir, 'home-dir-config');
    mkdirSync(join(home, '.ssh', 'config'), { recursive: true });
    const r = run(['status', '-i', 'valid.yaml'], { HOME: home });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/~\/.ssh\/config .*is a directory, not a file/);
    expect(r.stderr).not.toMatch(/EISDIR/);
  });

  it('recover --on Nobody is refused before any connection and before the question', () => {
    const r = run(['recover', '-i', 'valid.yaml', '--on', 'Nobody']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--on Nobody: no robot of that name.*robots: Anton, Ida/);
  });

  it('reset and recover check the inventory before asking', () => {
    for (const args of [['reset'], ['recover', '--on', 'Anton']]) {
      const r = run([...args, '-i', 'bad.yaml']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/line 3: robot "Anton"/);
      expect(r.stderr).not.toMatch(/asks first/);
    }
  });

  it('the connection refused on 127.0.0.1:1 would be exit 1: the inventory above is really valid', () => {
    const r = run(['status', '-i', 'valid.yaml', '--json', '--connect-timeout', '2']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({
      command: 'status',
      exitCode: 1,
      robots: [
        { name: 'Anton', status: 'unreachable' },
        { name: 'Ida', status: 'unreachable' },
      ],
    });
  });
});

describe('inventory errors are sorted by line', () => {
  it('problems found after the schema (duplicates) come in file order too', () => {
    const text = 'robots:\n  - name: Anton\n    ip: 10.0.0.1\n  - name: Ida\n    ip: 10.0.0.1\n  - name: anton\n    ip: 10.0.0.3\n';
    try {
      parseInventory(text, 'x.yaml', () => ({}), 'robot');
      throw new Error('expected a refusal');
    } catch (err) {
      expect(err).toBeInstanceOf(InventoryError);
      const e = err as InventoryError;
      expect(e.errors.map((p) => [p.line, p.robot, p.field])).toEqual([
        [5, 'Ida', 'ip'],
        [6, 'anton', 'name'],
      ]);
      expect(e.problems[0]).toMatch(/^line 5: robot "Ida"/);
    }
  });
});

describe('provision init', () => {
  it('writes a commented inventory that loads, and refuses to write over it', () => {
    const r = run(['init', '--robot', 'Anton=192.168.50.11', '--robot', 'Ida=192.168.50.12', '--user', 'robot']);
    expect(r.code).toBe(0);
    const file = join(dir, 'inventory', 'robots.yaml');
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^# provision inventory/);
    const inv = parseInventory(text, file, () => ({}), 'nobody-valid');
    expect(inv.robots.map((x) => [x.name, x.ip, x.user])).toEqual([
      ['Anton', '192.168.50.11', 'robot'],
      ['Ida', '192.168.50.12', 'robot'],
    ]);
    expect(inv.swarm.leader).toBe('Anton');
    const again = run(['init', '--robot', 'Otto=192.168.50.13']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists: provision init never writes over/);
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  it('--json: the contract, the robots as changed', () => {
    const r = run(['init', '-i', 'j.yaml', '--robot', 'Anton=10.0.0.1', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      command: 'init',
      dryRun: false,
      exitCode: 0,
      robots: [{ name: 'Anton', ip: '10.0.0.1', status: 'changed', details: ['added to j.yaml'] }],
      notes: [],
      inventory: join(dir, 'j.yaml'),
    });
  });

  it('bad pairs and values are refused by the inventory rules, nothing written', () => {
    const r = run(['init', '-i', 'x.yaml', '--robot', 'x;reboot=10.0.0.1', '--robot', 'Ida=10.0.0.999', '--robot', 'Otto', '--json']);
    expect(r.code).toBe(2);
    expect(inputErrorsSchema.parse(JSON.parse(r.stdout)).errors[0]?.message).toMatch(/--robot "Otto": expected NAME=IP/);
    const r2 = run(['init', '-i', 'x.yaml', '--robot', 'x;reboot=10.0.0.1', '--robot', 'Ida=10.0.0.999']);
    expect(r2.stderr).toMatch(/robot x;reboot field "name"/);
    expect(r2.stderr).toMatch(/robot Ida field "ip": must be a static IPv4/);
    expect(existsSync(join(dir, 'x.yaml'))).toBe(false);
  });

  it('without robots and without a terminal: says how, exit 2', () => {
    const r = run(['init', '-i', 'y.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--robot NAME=IP/);
  });

  it('PROVISION_INVENTORY is the default path of init and of every command', () => {
    const env = { PROVISION_INVENTORY: join(dir, 'fleet', 'env.yaml') };
    expect(run(['keys'], env).stderr).toContain(`no inventory at ${env.PROVISION_INVENTORY}`);
    expect(run(['init', '--robot', 'Anton=10.0.0.1'], env).code).toBe(0);
    expect(existsSync(env.PROVISION_INVENTORY)).toBe(true);
    expect(run(['keys', '--help'], env).stdout).toContain(env.PROVISION_INVENTORY);
  });
});

describe('the JSON Schema file', () => {
  it('docs/provision.schema.json is the contract of src/ui/json.ts (npm run schema rewrites it)', () => {
    expect(JSON.parse(readFileSync(join(ROOT, 'docs', 'provision.schema.json'), 'utf8'))).toEqual(jsonSchemaDocument());
  });
});
