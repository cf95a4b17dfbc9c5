// provision ui's pure parts: the door (token, Host, Origin), the page model, the watch read's parser;
// provision context's choice of manager.
import { describe, expect, it, jest } from '@jest/globals';
import { allowedHosts, checkRequest, cookieValue } from '../../src/web/guard.js';
import { failureCause, fleetView, type FleetReading, type RobotReading } from '../../src/ui/fleetView.js';
import { decideContext, sshEndpoint } from '../../src/plan/context.js';
import { parseWatchRead, watchReadCommand, type NodeInfo, type RobotFacts } from '../../src/remote/docker.js';
import type { Inventory } from '../../src/inventory/schema.js';
import { fleetName } from '../../src/run/lastCheck.js';

const TOKEN = 'k3Y-secret_token';
const config = { token: TOKEN, hosts: allowedHosts('127.0.0.1', 8123) };
const req = (url: string, headers: Record<string, string> = {}) =>
  checkRequest({ method: 'GET', url, headers: { host: '127.0.0.1:8123', ...headers } }, config);

describe('the door', () => {
  it('lets in the token from the URL, then from the cookie', () => {
    expect(req(`/?token=${TOKEN}`)).toEqual({ ok: true, fromQuery: true });
    expect(req('/api/events', { cookie: `other=1; provision_ui=${TOKEN}` })).toEqual({ ok: true, fromQuery: false });
  });

  it('refuses a request without the token, or with a wrong one (401)', () => {
    expect(req('/')).toMatchObject({ ok: false, status: 401 });
    expect(req('/?token=k3Y-secret_tokeN')).toMatchObject({ ok: false, status: 401 });
    expect(req('/', { cookie: 'provision_ui=' })).toMatchObject({ ok: false, status: 401 });
    expect(req(`/?token=${TOKEN}x`)).toMatchObject({ ok: false, status: 401 });
  });

  it('refuses another Host even with the token (DNS rebinding: the page would send its own name)', () => {
    expect(req(`/?token=${TOKEN}`, { host: 'evil.example:8123' })).toMatchObject({ ok: false, status: 421 });
    expect(req(`/?token=${TOKEN}`, { host: '127.0.0.1:9999' })).toMatchObject({ ok: false, status: 421 });
    expect(req(`/?token=${TOKEN}`, { host: 'localhost:8123' })).toEqual({ ok: true, fromQuery: true });
    expect(checkRequest({ method: 'GET', url: `/?token=${TOKEN}`, headers: {} }, config)).toMatchObject({ status: 421 });
  });

  it('refuses cross-origin and cross-site requests; same-origin and typed URLs pass', () => {
    expect(req(`/?token=${TOKEN}`, { origin: 'http://evil.example' })).toMatchObject({ ok: false, status: 403 });
    expect(req(`/?token=${TOKEN}`, { origin: 'http://localhost:8123' })).toMatchObject({ ok: false, status: 403 });
    expect(req(`/?token=${TOKEN}`, { 'sec-fetch-site': 'cross-site' })).toMatchObject({ ok: false, status: 403 });
    expect(req(`/?token=${TOKEN}`, { 'sec-fetch-site': 'same-site' })).toMatchObject({ ok: false, status: 403 });
    expect(req(`/?token=${TOKEN}`, { origin: 'http://127.0.0.1:8123', 'sec-fetch-site': 'same-origin' })).toMatchObject({ ok: true });
    expect(req(`/?token=${TOKEN}`, { 'sec-fetch-site': 'none' })).toMatchObject({ ok: true });
  });

  it('--listen: only that address; IPv6 in brackets; localhost only for loopback', () => {
    expect(allowedHosts('10.0.0.5', 80)).toEqual(['10.0.0.5:80']);
    expect(allowedHosts('::1', 80)).toEqual(['[::1]:80', 'localhost:80']);
    expect(cookieValue(' a=1 ; provision_ui=x=y', 'provision_ui')).toBe('x=y');
  });
});

const robot = (name: string, ip: string, zone?: string) => ({
  name,
  ip,
  user: name.toLowerCase(),
  port: 22,
  sudo: false,
  role: 'auto' as const,
  canBecomeManager: true,
  canBecomeLeader: true,
  labels: {},
  ...(zone ? { zone } : {}),
});

const inventory: Inventory = {
  file: 'fleet.yaml',
  robots: [
    robot('Anton', '10.0.0.1', 'north'),
    robot('Ida', '10.0.0.2', 'north'),
    robot('Otto', '10.0.0.3', 'south'),
    robot('Emil', '10.0.0.4', 'south'),
  ],
  swarm: { managers: 'auto', init: {} },
  retired: [],
};

const facts = (nodeId: string, manager: boolean): RobotFacts => ({
  arch: 'x86_64',
  cpus: 2,
  memKb: 4_000_000,
  hostname: nodeId,
  engineId: `e-${nodeId}`,
  engineVersion: '20.10.24',
  swarm: { NodeID: nodeId, NodeAddr: '', LocalNodeState: 'active', ControlAvailable: manager, Error: '', RemoteManagers: null },
  dockerError: null,
  tokens: { dirMode: '700', files: { worker_token: { mode: '600', sha256: 'a'.repeat(64) } }, leftovers: false },
});

const node = (id: string, addr: string, role: 'manager' | 'worker', extra: Partial<NodeInfo> = {}): NodeInfo => ({
  id,
  hostname: id,
  role,
  state: 'ready',
  availability: 'active',
  addr,
  leader: false,
  reachability: role === 'manager' ? 'reachable' : null,
  labels: { CPU_COUNT: '2', 'provision.labels': 'CPU_COUNT' },
  ...extra,
});

const up = (f: RobotFacts): RobotReading => ({ state: 'up', loginMs: 80, reason: null, facts: f, since: 0 });

describe('the page model', () => {
  const nodes = [
    node('n1', '10.0.0.1', 'manager', { leader: true }),
    node('n2', '10.0.0.2', 'manager'),
    node('n3', '10.0.0.3', 'manager', { state: 'down', reachability: 'unreachable' }),
    node('n4', '10.0.0.4', 'worker'),
  ];
  const reading: FleetReading = {
    robots: new Map([
      ['Anton', up(facts('n1', true))],
      ['Ida', up(facts('n2', true))],
      ['Otto', { state: 'down', loginMs: null, reason: 'ECONNREFUSED connecting to 10.0.0.3:22', facts: null, since: 0 }],
      ['Emil', up(facts('n4', false))],
    ]),
    nodes,
    nodesFrom: 'Anton',
  };
  const view = fleetView(inventory, 'fleet', reading, null, 5000);

  it('every inventory robot, reachable or not, with its node found by ID or (when down) by address', () => {
    expect(view.robots.map((r) => [r.name, r.ssh.state, r.role, r.leader])).toEqual([
      ['Anton', 'up', 'manager', true],
      ['Ida', 'up', 'manager', false],
      ['Otto', 'down', 'manager', false],
      ['Emil', 'up', 'worker', false],
    ]);
    const otto = view.robots[2]!;
    expect(otto.ssh).toMatchObject({ cause: 'refused', sinceS: 5 });
    expect(otto.nodeState).toBe('down');
    expect(view.robots[0]).toMatchObject({ engineVersion: '20.10.24', user: 'anton', zone: 'north', labels: { CPU_COUNT: '2' } });
  });

  it('quorum in words and per zone: 3 managers, 2 reachable, holds, tolerates 0 more now', () => {
    expect(view.quorum).toMatchObject({
      swarm: true,
      managers: 3,
      reachableManagers: 2,
      holds: true,
      toleratedNow: 0,
      toleratedByDesign: 1,
    });
    expect(view.quorum.words.join(' ')).toMatch(
      /3 managers, 2 reachable: quorum holds.*Managers per zone: north 2, south 1.*Zone north holds a majority/,
    );
    expect(view.quorum.zones).toEqual([
      {
        zone: 'north',
        managers: 2,
        robots: [
          { name: 'Anton', role: 'manager', leader: true, up: true },
          { name: 'Ida', role: 'manager', leader: false, up: true },
        ],
      },
      {
        zone: 'south',
        managers: 1,
        robots: [
          { name: 'Otto', role: 'manager', leader: false, up: false },
          { name: 'Emil', role: 'worker', leader: false, up: true },
        ],
      },
    ]);
  });

  it('the planned roles come from the quorum planner (the leader kept)', () => {
    expect(view.plan.leader).toBe('Anton');
    expect(view.robots.map((r) => r.rolePlanned)).toEqual(['manager', 'manager', 'manager', 'worker']);
  });

  it('sends nothing secret: no token digests, no facts beyond what the page shows; reasons redacted', () => {
    const text = JSON.stringify(view);
    expect(text).not.toContain('a'.repeat(64));
    expect(text).not.toContain('tokens');
    const leaky: FleetReading = {
      ...reading,
      robots: new Map([...reading.robots, ['Otto', { ...reading.robots.get('Otto')!, reason: 'failed: SWMTKN-1-abc-def' }]]),
    };
    expect(JSON.stringify(fleetView(inventory, 'fleet', leaky, null))).not.toContain('SWMTKN-1-abc');
  });

  it('no swarm yet: every robot still listed, the words say so', () => {
    const none = fleetView(inventory, 'fleet', { robots: new Map(), nodes: null, nodesFrom: null }, null);
    expect(none.robots.map((r) => r.ssh.state)).toEqual(['connecting', 'connecting', 'connecting', 'connecting']);
    expect(none.quorum.words[0]).toMatch(/No swarm/);
  });

  it('a manager that answered without a node list (no leader): quorum not shown as holding', () => {
    const unlisted = fleetView(inventory, 'fleet', { ...reading, nodes: null, nodesFrom: null, unlistedBy: 'Ida' }, null);
    expect(unlisted.quorum).toMatchObject({ swarm: true, holds: false, managers: 0 });
    expect(unlisted.quorum.words[0]).toMatch(/^Ida is a manager but could not list the swarm's nodes: .*no leader/);
    expect(unlisted.quorum.words.join(' ')).not.toMatch(/No swarm|holds/);
  });

  it("the last check's findings and pairs per robot", () => {
    const last = {
      at: '2026-12-07T10:00:00Z',
      command: 'check',
      exitCode: 1,
      robots: [{ name: 'Ida', status: 'failed', details: ['no connection to Otto'] }],
      preflight: { findings: [{ check: 'clock', severity: 'fail', robots: ['Ida'], text: 'Ida is 40 s off' }] },
      check: { pairs: [{ from: 'Ida', to: 'Otto', verdict: 'no-connection' }], notes: [], failed: false },
    };
    const ida = fleetView(inventory, 'fleet', reading, last).robots[1]!;
    expect(ida.findings).toEqual([{ check: 'clock', severity: 'fail', text: 'Ida is 40 s off' }]);
    expect(ida.check).toEqual({ status: 'failed', details: ['no connection to Otto'], pairs: ['Ida → Otto: no-connection'] });
  });

  it('names why a robot is down', () => {
    expect(failureCause('no answer from 10.0.0.3:22 within 5 s')).toBe('timed out');
    expect(failureCause('host key of Otto changed: known_hosts has …')).toBe('host key changed');
    expect(failureCause('authentication as "otto" failed (tried the agent …)')).toBe('auth');
    expect(failureCause('EHOSTUNREACH connecting to 10.0.0.3:22')).toBe('unreachable');
    expect(failureCause('no answer to the read: remote command timed out after 3 s')).toBe('no answer');
    expect(failureCause('no answer to the read: no answer within 3 s')).toBe('no answer');
  });
});

describe('the watch read', () => {
  it('one remote call: the facts, and the node list only on the manager asked', () => {
    expect(watchReadCommand(false, false).line).not.toContain('node ls');
    expect(watchReadCommand(false, true).line).toContain('node ls');
    const nodeJson = JSON.stringify({
      ID: 'n1',
      Spec: { Role: 'manager', Availability: 'active' },
      Status: { State: 'ready', Addr: '10.0.0.1' },
      ManagerStatus: { Leader: true },
    });
    const out = `arch=x86_64\ncpus=2\nmemkb=1\nhostname=Anton\nengine=E\nversion=20.10.24\nswarm={"NodeID":"n1","LocalNodeState":"active","ControlAvailable":true}\nprovision-nodes-begin\n${nodeJson}\n`;
    const read = parseWatchRead(out, false);
    expect(read.facts.engineVersion).toBe('20.10.24');
    expect(read.nodes?.map((n) => [n.id, n.leader])).toEqual([['n1', true]]);
    expect(parseWatchRead('arch=x86_64\nprovision-nodes-begin\nError: not a manager\n', false).nodes).toBeNull();
    expect(parseWatchRead('arch=x86_64\n', false).nodes).toBeNull();
  });
});

describe('provision context', () => {
  const m = (name: string, ip: string, leader = false) => ({ name, user: 'op', ip, port: 22, leader });

  it('the leader first; a context on a reachable manager stays; one on a gone manager moves and says why', () => {
    expect(decideContext([m('Anton', '10.0.0.1'), m('Ida', '10.0.0.2', true)], null)).toMatchObject({
      change: 'create',
      host: 'ssh://op@10.0.0.2',
    });
    expect(decideContext([m('Anton', '10.0.0.1'), m('Ida', '10.0.0.2', true)], 'ssh://op@10.0.0.1')).toMatchObject({
      change: 'keep',
      host: 'ssh://op@10.0.0.1',
    });
    const moved = decideContext([m('Anton', '10.0.0.1'), m('Otto', '10.0.0.3')], 'ssh://op@10.0.0.2');
    expect(moved).toMatchObject({ change: 'move', host: 'ssh://op@10.0.0.1' });
    expect(moved.why).toContain('ssh://op@10.0.0.2');
    expect(decideContext([], 'ssh://op@10.0.0.2')).toMatchObject({ change: 'none', host: null });
  });

  it('ssh:// with the port only where it is not 22; the fleet named after the inventory file', () => {
    expect(sshEndpoint({ user: 'ida', ip: '10.0.0.2', port: 2222 })).toBe('ssh://ida@10.0.0.2:2222');
    expect(fleetName('/srv/fleets/harbour.yaml')).toBe('harbour');
    expect(fleetName('inventory/robots.yaml')).toBe('robots');
  });
});

describe('the last check, kept for the page', () => {
  it('stored redacted, one file per inventory path, read back', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    process.env.PROVISION_LOG_DIR = mkdtempSync(join(tmpdir(), 'provision-lastcheck-'));
    jest.resetModules();
    const { storeLastCheck, loadLastCheck } = await import('../../src/run/lastCheck.js');
    const result = {
      at: 'now',
      command: 'check',
      exitCode: 0,
      robots: [{ name: 'Ida', status: 'ok', details: ['token SWMTKN-1-abcdef-123'] }],
    };
    storeLastCheck('/a/robots.yaml', result);
    expect(loadLastCheck('/b/robots.yaml')).toBeNull();
    const back = loadLastCheck('/a/robots.yaml');
    expect(back?.robots[0]?.details).toEqual(['token SWMTKN-1-<redacted>']);
    expect(back?.command).toBe('check');
  });
});

describe('--allow-actions: the run started from the page', () => {
  it("is its own process group (the terminal's Ctrl-C reaches it once, through stop), and stop waits for its end", async () => {
    const { mkdtempSync, readFileSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { ActionRunner } = await import('../../src/web/actions.js');
    // A stand-in CLI: says its process group, and on the first SIGINT releases (a moment) then ends;
    // a second SIGINT would kill it at once.
    const cli = join(mkdtempSync(join(tmpdir(), 'provision-action-')), 'cli.mjs');
    writeFileSync(
      cli,
      `import { readFileSync } from 'node:fs';
console.error('pgrp ' + readFileSync('/proc/self/stat', 'latin1').replace(/^.*\\) \\S+ \\S+ /s, '').split(' ')[0]);
process.once('SIGINT', () => setTimeout(() => { console.error('released'); process.exit(130); }, 300));
setInterval(() => {}, 1000);
`,
    );
    const pgrp = (pid: string) =>
      readFileSync(`/proc/${pid}/stat`, 'latin1')
        .replace(/^.*\) \S+ \S+ /s, '')
        .split(' ')[0];
    const events: { kind: string; line?: string; code?: number }[] = [];
    const argv1 = process.argv[1];
    process.argv[1] = cli;
    const runner = new ActionRunner('robots.yaml', {}, (e) => events.push(e));
    try {
      expect(runner.start('status')).toBe(true);
      expect(runner.start('up')).toBe(false); // one at a time
      for (let i = 0; i < 100 && !events.some((e) => e.line?.startsWith('pgrp ')); i++) await new Promise((r) => setTimeout(r, 50));
      expect(events.find((e) => e.line?.startsWith('pgrp '))?.line).not.toBe(`pgrp ${pgrp('self')}`);
      await runner.stop();
      expect(events.map((e) => e.line ?? e.kind)).toEqual([expect.stringMatching(/^pgrp \d+$/), 'released', 'done']);
      expect(events[2]).toMatchObject({ kind: 'done', code: 130 });
      expect(runner.busy).toBe(false);
    } finally {
      process.argv[1] = argv1 as string;
      await runner.stop(); // a failed expectation leaves no stand-in running
    }
  });
});
