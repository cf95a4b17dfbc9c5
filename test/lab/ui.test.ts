// provision ui in a real browser (Debian's chromium, headless, driven by playwright-core) and provision
// context with the real docker CLI, on a real 3-robot swarm.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finishLab, lab, labDown, labUp, newOperator, onRobot, provision, ROOT, startProvision, type Operator } from './harness.js';

let inventory: string;
let op: Operator;
/** A PATH entry whose `ssh` is the operator's: OpenSSH reads ~/.ssh from the passwd entry, not from HOME. */
let sshShim: string;
const ROBOTS = ['Anton', 'Ida', 'Otto'];
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function operatorSsh(home: string): string {
  const bin = join(home, 'bin');
  mkdirSync(bin, { recursive: true });
  const ssh = execFileSync('sh', ['-c', 'command -v ssh'], { encoding: 'utf8' }).trim();
  writeFileSync(
    join(bin, 'ssh'),
    `#!/bin/sh\nexec ${ssh} -o UserKnownHostsFile=${home}/.ssh/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes -i ${home}/.ssh/id_ed25519 "$@"\n`,
  );
  chmodSync(join(bin, 'ssh'), 0o755);
  return bin;
}

const withShim = () => ({ PATH: `${sshShim}:${process.env.PATH ?? ''}` });

/** docker as the operator would type it on the laptop. */
function dockerCli(args: string[]): string {
  return execFileSync('docker', args, {
    encoding: 'utf8',
    env: { ...process.env, HOME: op.home, ...withShim() },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 30_000,
  });
}

async function eventually<T>(what: string, get: () => T, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return get();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

function nodeLs(on: string): { Hostname: string; ManagerStatus: string }[] {
  return onRobot(on, "docker node ls --format '{{json .}}'")
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { Hostname: string; ManagerStatus: string });
}

/** A GET (or POST) with the headers given (node's fetch cannot set Host). */
function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, method }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  labDown();
  inventory = labUp(3);
  op = newOperator();
  sshShim = operatorSsh(op.home);
  expect((await provision(op, ['up', '-i', inventory])).code).toBe(0);
}, 180_000);

afterAll(() => finishLab(op), 120_000);

describe('provision ui', () => {
  let browser: BrowserContext;
  let page: Page;
  const profile = mkdtempSync(join(tmpdir(), 'provision-chromium-'));

  afterAll(async () => {
    await browser?.close();
    rmSync(profile, { recursive: true, force: true });
  });

  it('shows every robot with its real role, a link down within a refresh and back after; the token is required; Ctrl-C ends it', async () => {
    const ui = startProvision(op, ['ui', '-i', inventory, '--interval', '2', '--connect-timeout', '2']);
    try {
      await pageOfUi(ui);
    } finally {
      ui.child.kill('SIGKILL'); // after a failure; a passing test has stopped it with SIGINT
      await ui.done;
    }
  }, 120_000);

  async function pageOfUi(ui: ReturnType<typeof startProvision>) {
    let out = '';
    ui.child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const url = await eventually('the URL', () => /http:\/\/127\.0\.0\.1:\d+\/\?token=\S+/.exec(out)?.[0] ?? assertNever(out), 10_000);
    const { origin, port } = new URL(url);

    // The door: no token, a foreign Host (DNS rebinding), another origin: all refused.
    expect(await get(`${origin}/`)).toBe(401);
    expect(await get(`${origin}/api/events`)).toBe(401);
    expect(await get(`${origin}/?token=wrong`)).toBe(401);
    expect(await get(url, { Host: `rebind.example:${port}` })).toBe(421);
    expect(await get(url, { Origin: 'http://rebind.example' })).toBe(403);
    expect(await get(url, { 'Sec-Fetch-Site': 'cross-site' })).toBe(403);
    expect(await get(url)).toBe(200);

    browser = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
    page = await browser.newPage();
    const elsewhere: string[] = [];
    page.on('request', (r) => void (new URL(r.url()).origin !== origin && elsewhere.push(r.url())));
    await page.setViewportSize({ width: 1500, height: 900 });
    await page.goto(url);
    for (const name of ROBOTS) await page.waitForSelector(`tr[data-robot="${name}"][data-ssh="up"]`, { timeout: 20_000 });
    // The node list comes with the second read (the first finds out who manages).
    await page.waitForFunction(() => document.querySelector('#quorum-words')?.textContent?.includes('3 managers, 3 reachable'));
    const nodes = nodeLs('Anton');
    for (const name of ROBOTS) {
      const node = nodes.find((n) => n.Hostname === name);
      const role = await page.getAttribute(`tr[data-robot="${name}"]`, 'data-role');
      expect(role).toBe(node?.ManagerStatus ? 'manager' : 'worker');
    }
    expect(page.url()).not.toContain('token='); // out of the address bar once the cookie holds it

    // A robot's link down: shown down within one refresh (2 s) and the read's timeout (3 s).
    lab('link', 'Otto', 'down');
    const cut = Date.now();
    try {
      await page.waitForSelector('tr[data-robot="Otto"][data-ssh="down"]', { timeout: 15_000 });
      const seenDownMs = Date.now() - cut;
      expect(seenDownMs).toBeLessThan(2000 + 3000 + 1500);
      await page.screenshot({ path: join(ROOT, 'docs', 'ui.png'), fullPage: true });
    } finally {
      lab('link', 'Otto', 'up');
    }
    await page.waitForSelector('tr[data-robot="Otto"][data-ssh="up"]', { timeout: 30_000 });

    // Read-only by default: no buttons, and a run asked for anyway is refused.
    expect(await page.isHidden('#actions')).toBe(true);
    const cookie = `provision_ui=${new URL(url).searchParams.get('token')}`;
    expect(await get(`${origin}/api/run?command=up`, { Origin: origin, Cookie: cookie, 'X-Provision-Action': 'yes' }, 'POST')).toBe(403);

    const html = await page.content();
    expect(html).not.toMatch(/SWMTKN|PRIVATE KEY/);
    expect(html).not.toContain(process.env.LAB_PASSWORD ?? 'lab-secret-pw');
    expect(elsewhere).toEqual([]); // every asset from provision ui itself: no CDN, nothing outside

    const stopAt = Date.now();
    ui.child.kill('SIGINT');
    const run = await ui.done;
    expect(Date.now() - stopAt).toBeLessThan(2000);
    expect(run.code).toBe(0);
    await expect(get(url)).rejects.toThrow(/ECONNREFUSED/);
  }

  it('--allow-actions: the status button runs provision status and the page shows its report', async () => {
    const ui = startProvision(op, ['ui', '-i', inventory, '--interval', '2', '--allow-actions']);
    let out = '';
    ui.child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const url = await eventually('the URL', () => /http:\/\/127\.0\.0\.1:\d+\/\?token=\S+/.exec(out)?.[0] ?? assertNever(out), 10_000);
      await page.goto(url);
      await page.waitForSelector('#actions:not([hidden])', { timeout: 10_000 });
      await page.click('button[data-action="status"]');
      await page.waitForFunction(() => document.getElementById('run-state')?.textContent?.includes('ended: exit 0'), null, {
        timeout: 30_000,
      });
      const report = await page.textContent('#run-report');
      for (const name of ROBOTS) expect(report).toContain(name);
      expect(report).not.toMatch(/failed|unreachable/);
    } finally {
      ui.child.kill('SIGINT');
      await ui.done;
    }
  }, 60_000);
});

function assertNever(out: string): never {
  throw new Error(`no URL printed yet: ${out}`);
}

describe('provision context', () => {
  it('points a docker context at the leader; after the leader goes, a re-run moves it to another manager', async () => {
    const first = await provision(op, ['context', '-i', inventory, '--use', '--json'], withShim());
    expect(first.code).toBe(0);
    const made = (JSON.parse(first.stdout) as { context: { name: string; robot: string; leader: boolean; change: string; works: boolean } })
      .context;
    expect(made).toMatchObject({ name: 'provision-inventory', leader: true, change: 'create', works: true });
    expect(dockerCli(['context', 'show']).trim()).toBe('provision-inventory'); // --use
    expect(dockerCli(['node', 'ls', '--format', '{{.Hostname}}']).trim().split('\n').sort()).toEqual([...ROBOTS].sort());

    lab('link', made.robot, 'down');
    try {
      const again = await provision(op, ['context', '-i', inventory, '--connect-timeout', '2'], withShim());
      expect(again.stdout).toMatch(new RegExp(`move docker context provision-inventory from ssh://\\S+ to ssh://`));
      expect(again.code).toBe(1); // the leader is unreachable: reported
      const host = dockerCli(['context', 'inspect', 'provision-inventory', '--format', '{{.Endpoints.docker.Host}}']).trim();
      const robots = (parse(readFileSync(inventory, 'utf8')) as { robots: { name: string; ip: string }[] }).robots;
      const leaderIp = robots.find((r) => r.name === made.robot)?.ip;
      expect(host).not.toContain(`@${leaderIp}`);
      const listed = await eventually(
        'docker node ls through the moved context',
        () => dockerCli(['--context', 'provision-inventory', 'node', 'ls']),
        30_000,
      );
      for (const name of ROBOTS) expect(listed).toContain(name);
    } finally {
      lab('link', made.robot, 'up');
    }
  }, 90_000);
});
