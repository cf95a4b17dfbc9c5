// The package people install: what `npm pack` ships, and the packed tarball installed into a fresh
// prefix running `provision --help` and `provision init`. The install fetches the dependencies, from
// npm's cache or the registry: it runs where the registry may be used (PROVISION_TEST_REGISTRY=1, set
// by .ci/run) and is skipped, saying so, elsewhere. Needs the build (npm test builds first).
import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  license: string;
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  repository?: { url: string };
  bugs?: { url: string };
  homepage?: string;
};
const dir = mkdtempSync(join(tmpdir(), 'provision-pack-'));
let tarball = '';
let files: string[] = [];

function npm(args: string[], env: Record<string, string> = {}): { code: number; out: string; stdout: string } {
  const r = spawnSync('npm', args, {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, npm_config_update_notifier: 'false', ...env },
    timeout: 300_000,
  });
  return { code: r.status ?? -1, out: r.stdout + r.stderr, stdout: r.stdout };
}

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'cli.js'))) throw new Error('dist/cli.js is missing: npm run build first');
  // --ignore-scripts: prepack would build again; the build is already there.
  const r = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir]);
  expect(r.code).toBe(0);
  const [info] = JSON.parse(r.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = join(dir, info?.filename ?? '');
  files = (info?.files ?? []).map((f) => f.path);
}, 120_000);

describe('what npm pack ships', () => {
  it('a scoped name, the provision command, MIT with its LICENSE, where the project lives', () => {
    expect(pkg.name).toMatch(/^@[a-z0-9-]+\/provision$/);
    expect(pkg.bin).toEqual({ provision: 'dist/cli.js' });
    expect(pkg.license).toBe('MIT');
    expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
    for (const url of [pkg.repository?.url, pkg.bugs?.url, pkg.homepage]) expect(url).toMatch(/github\.com\//);
  });

  it('the CLI, the templates, the example inventory, the JSON Schema, the licence; no sources or tests', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'LICENSE',
        'README.md',
        'package.json',
        'dist/cli.js',
        'templates/provision-join.sh',
        'templates/provision-join.service',
        'inventory/robots.yaml',
        'docs/provision.schema.json',
      ]),
    );
    expect(files.filter((f) => /^(src|test|scripts|bench)\/|\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('the remote scripts, beside the code that loads them', () => {
    const scripts = readdirSync(join(ROOT, 'src', 'remote', 'scripts')).filter((f) => f.endsWith('.sh'));
    expect(scripts).toContain('lock.sh');
    expect(files).toEqual(expect.arrayContaining(scripts.map((f) => `dist/remote/scripts/${f}`)));
  });

  it("provision ui's page, script and style, beside the server that reads them (nothing from a CDN)", () => {
    expect(files).toEqual(
      expect.arrayContaining(['templates/ui/index.html', 'templates/ui/app.js', 'templates/ui/style.css', 'dist/web/server.js']),
    );
    const page = readFileSync(join(ROOT, 'templates', 'ui', 'index.html'), 'utf8');
    expect(page.match(/(src|href)="[^"]*"/g)).toEqual(['href="/style.css"', 'src="/app.js"']);
  });

  it('every dependency is imported by the code it ships', () => {
    const shipped = files
      .filter((f) => f.startsWith('dist/') && f.endsWith('.js'))
      .map((f) => readFileSync(join(ROOT, f), 'utf8'))
      .join('\n');
    const unused = Object.keys(pkg.dependencies).filter((d) => !shipped.includes(`'${d}'`) && !shipped.includes(`'${d}/`));
    expect(unused).toEqual([]);
  });
});

const registry = process.env.PROVISION_TEST_REGISTRY === '1';
(registry ? describe : describe.skip)('the tarball installed into a fresh prefix (PROVISION_TEST_REGISTRY=1)', () => {
  const prefix = join(dir, 'prefix');
  const bin = join(prefix, 'bin', 'provision');

  beforeAll(() => {
    // --prefer-offline: npm's cache first (filled by npm ci), the registry only for what it lacks.
    const r = npm(['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball]);
    if (r.code !== 0) throw new Error(`npm install -g failed:\n${r.out}`);
  }, 300_000);

  it('provision --help', () => {
    const r = spawnSync(bin, ['--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Usage: provision/);
    expect(r.stdout).toMatch(/init/);
  });

  it('provision init writes an inventory that provision then reads', () => {
    const work = mkdtempSync(join(dir, 'work-'));
    const env = { PATH: `${join(prefix, 'bin')}:${process.env.PATH ?? ''}`, HOME: work };
    const init = spawnSync('provision', ['init', '--robot', 'Anton=127.0.0.1', '--user', 'robot'], { cwd: work, encoding: 'utf8', env });
    expect(init.status).toBe(0);
    expect(readFileSync(join(work, 'inventory', 'robots.yaml'), 'utf8')).toMatch(/name: Anton/);
    // The inventory loads (a refused inventory would be exit 2); nothing listens on 127.0.0.1:22 here or it answers: either way not 2.
    const status = spawnSync('provision', ['status', '--json', '--connect-timeout', '1'], {
      cwd: work,
      encoding: 'utf8',
      env,
      timeout: 60_000,
    });
    expect(JSON.parse(status.stdout)).toMatchObject({ command: 'status', robots: [{ name: 'Anton' }] });
    expect(existsSync(join(prefix, 'lib', 'node_modules', ...pkg.name.split('/'), 'templates', 'provision-join.sh'))).toBe(true);
  });

  it('a remote script loads from the installed package and runs', () => {
    const lock = pathToFileURL(join(prefix, 'lib', 'node_modules', ...pkg.name.split('/'), 'dist', 'remote', 'lock.js')).href;
    const code = `const { lockCommand } = await import(${JSON.stringify(lock)}); process.stdout.write(lockCommand('me@laptop:1:aa').line);`;
    const line = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
    expect(line.status).toBe(0);
    const home = mkdtempSync(join(dir, 'home-'));
    const r = spawnSync('sh', ['-c', line.stdout], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: home } });
    expect(r.stdout).toBe('provision-lock locked\n');
    expect(readdirSync(join(home, '.provision-lock'))).toEqual([expect.stringMatching(/^owner\.\d+\.me@laptop:1:aa$/)]);
  });
});
