// Faults made for real on the lab, each ending with a run that converges.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { finishLab, lab, labDown, labUp, newOperator, onRobot, provision, startProvision, type Operator } from './harness.js';
import { quote } from '../../src/remote/shell.js';
import { script } from '../../src/remote/scripts.js';

let inventory: string;
let op: Operator;
const ROBOTS = ['Anton', 'Ida', 'Otto'];
const clusterOf = (r: string) => onRobot(r, "docker info --format '{{if .Swarm.Cluster}}{{.Swarm.Cluster.ID}}{{end}}'").trim();
const onRobotIp = (r: string) => lab('ip', r).trim();
const stateOf = (r: string) => onRobot(r, "docker info --format '{{.Swarm.LocalNodeState}}'").trim();

beforeAll(async () => {
  labDown();
  inventory = labUp(3);
  op = newOperator();
}, 120_000);

afterAll(() => finishLab(op), 120_000);

describe('faults', () => {
  it('a wrong password is a clear per-robot failure', async () => {
    const run = await provision(op, ['keys', '-i', inventory], { PROVISION_PASSWORD: 'not-the-password' });
    expect(run.code).toBe(1);
    for (const r of ROBOTS) expect(run.stdout).toMatch(new RegExp(`${r}\\s+failed\\s+authentication as "${r.toLowerCase()}" failed`));
    expect(run.stdout + run.stderr).not.toContain('not-the-password');
    expect((await provision(op, ['keys', '-i', inventory])).code).toBe(0);
  }, 60_000);

  it('two provision swarm runs at once never make two swarms', async () => {
    const [a, b] = await Promise.all([provision(op, ['swarm', '-i', inventory]), provision(op, ['swarm', '-i', inventory])]);
    const refused = [a, b].filter((r) => r.stdout.includes('another provision run is working on the fleet'));
    expect(refused.length + [a, b].filter((r) => r.code === 0).length).toBeGreaterThanOrEqual(1);
    const clusters = new Set(ROBOTS.map(clusterOf).filter(Boolean));
    expect(clusters.size).toBeLessThanOrEqual(1);
    const after = await provision(op, ['swarm', '-i', inventory]);
    expect(after.code).toBe(0);
    expect(new Set(ROBOTS.map(clusterOf)).size).toBe(1);
  }, 180_000);

  it('two provision up started together, 20 times: each time exactly one proceeds, the other refuses naming it', async () => {
    for (let i = 0; i < 20; i++) {
      const runs = [startProvision(op, ['up', '-i', inventory]), startProvision(op, ['up', '-i', inventory])];
      const done = await Promise.all(runs.map((r) => r.done));
      const winner = done.findIndex((r) => r.code === 0);
      const loser = done[1 - winner];
      expect({ i, codes: done.map((r) => r.code).sort() }).toEqual({ i, codes: [0, 1] });
      const pid = runs[winner]?.child.pid;
      // The gate (Anton, first in the inventory) is where the loser met the winner: it took nothing else.
      expect(loser?.stdout).toMatch(
        new RegExp(`another provision run is working on the fleet: Anton \\(held by \\S+:${pid}:[0-9a-f]+ for \\d+ s\\)\\. Wait`),
      );
    }
    for (const r of ROBOTS) expect(onRobot(r, 'cd && ls -A | grep -c provision-lock || true').trim()).toBe('0');
  }, 120_000);

  it('200 takeovers of one expired lock at once on a robot: exactly one wins, the others name it', () => {
    const setUp = `cd && printf %s ${quote(script('lock'))} > lock-race.sh && mkdir .provision-lock && : > .provision-lock/owner.$(($(date +%s) - 3600)).crashed@laptop:9:cc`;
    const race = `cd && i=0; while [ $i -lt 200 ]; do sh lock-race.sh take run$i@pc:$i:aa 900 '' .provision-lock 10 > race.$i & i=$((i + 1)); done; wait; cat race.*`;
    onRobot('Ida', setUp);
    let out: string;
    try {
      out = onRobot('Ida', race);
    } finally {
      onRobot('Ida', 'cd && rm -rf race.* lock-race.sh .provision-lock');
    }
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(200);
    const winners = lines.flatMap((l, i) => (l.startsWith('provision-lock taken-over ') ? [i] : []));
    expect(winners).toHaveLength(1);
    expect(lines[winners[0] as number]).toBe('provision-lock taken-over crashed@laptop:9:cc');
    const held = new Set(lines.filter((l) => l.startsWith('provision-lock held ')).map((l) => l.replace(/held \d+/, 'held N')));
    expect(held.size).toBe(1);
    expect([...held][0]).toMatch(/^provision-lock held N run\d+@pc:\d+:aa$/);
  }, 60_000);

  it("an agent of 8 keys, provision's own added last (more than sshd's MaxAuthTries): keys, swarm and status succeed on every robot", async () => {
    const agentOp = newOperator();
    const ssh = join(agentOp.home, '.ssh');
    mkdirSync(ssh, { mode: 0o700 });
    const sock = join(agentOp.home, 'agent.sock');
    const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(execFileSync('ssh-agent', ['-s', '-a', sock], { encoding: 'utf8' }))?.[1]);
    try {
      const add = (file: string) => execFileSync('ssh-add', ['-q', file], { env: { SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      for (let i = 1; i <= 7; i++) {
        execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(agentOp.home, `other${i}`)]);
        add(join(agentOp.home, `other${i}`));
      }
      // provision's own key: the one `keys` installs (~/.ssh/id_ed25519), the agent's 8th
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'provision-own', '-f', join(ssh, 'id_ed25519')]);
      add(join(ssh, 'id_ed25519'));
      expect(
        execFileSync('ssh-add', ['-l'], { env: { SSH_AUTH_SOCK: sock }, encoding: 'utf8' })
          .trim()
          .split('\n'),
      ).toHaveLength(8);
      const agent = { SSH_AUTH_SOCK: sock };
      const keys = await provision(agentOp, ['keys', '-i', inventory], agent); // first contact: the password, after 5 keys
      expect(keys.stdout).not.toMatch(/failed|unreachable/);
      expect(keys.code).toBe(0);
      const keyOnly = { ...agent, PROVISION_PASSWORD: '' }; // from here on only a key can log in
      const swarm = await provision(agentOp, ['swarm', '-i', inventory], keyOnly);
      expect(swarm.stdout).not.toMatch(/failed|unreachable|Too many authentication failures/);
      expect(swarm.code).toBe(0);
      const status = await provision(agentOp, ['status', '-i', inventory], keyOnly);
      expect(status.code).toBe(0);
      for (const r of ROBOTS) expect(status.stdout).toMatch(new RegExp(`\\b${r}\\b`));
      // each robot's login is remembered with provision's key, offered first next time
      const own = readFileSync(join(ssh, 'id_ed25519.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
      const remembered = readFileSync(join(agentOp.logDir, 'logins'), 'utf8');
      for (const r of ROBOTS) expect(remembered).toContain(`${r.toLowerCase()}@${onRobotIp(r)}:22 ${own}`);
    } finally {
      process.kill(pid);
    }
  }, 120_000);

  it('a robot whose dockerd is stopped gets a clear message; the others go on', async () => {
    lab('dockerd', 'Otto', 'stop');
    try {
      const run = await provision(op, ['swarm', '-i', inventory]);
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/Otto\s+failed\s+.*the Docker engine is not running on this robot/);
      expect(run.stdout).toMatch(/Anton\s+ok/);
    } finally {
      lab('dockerd', 'Otto', 'start');
    }
    await new Promise((r) => setTimeout(r, 3000));
    const again = await provision(op, ['swarm', '-i', inventory]);
    expect(again.code).toBe(0);
  }, 180_000);

  it('a user without Docker access gets told what to do', async () => {
    lab('rexec', 'Ida', 'gpasswd', '-d', 'ida', 'docker');
    try {
      const run = await provision(op, ['swarm', '-i', inventory]);
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/Ida\s+failed\s+.*may not use docker .*docker group, or set sudo: true/);
    } finally {
      lab('rexec', 'Ida', 'gpasswd', '-a', 'ida', 'docker');
    }
  }, 120_000);

  it('Ctrl-C during provision swarm ends within 2 s; the next run converges with nothing half-written', async () => {
    labUp(4); // Emil, new: the interrupted run is busy keying and joining it
    expect((await provision(op, ['keys', '-i', inventory])).code).toBe(0);
    const { child, done } = startProvision(op, ['swarm', '-i', inventory]);
    await new Promise((r) => setTimeout(r, 700));
    const sent = Date.now();
    child.kill('SIGINT');
    const { code } = await done;
    expect(Date.now() - sent).toBeLessThan(2000);
    expect(code === 130 || code === 0).toBe(true);
    const run = await provision(op, ['swarm', '-i', inventory]);
    expect(run.code).toBe(0);
    for (const r of [...ROBOTS, 'Emil']) {
      expect(stateOf(r)).toBe('active');
      expect(onRobot(r, 'cd && ls -A .ssh swarm_tokens | grep -c -e tmp -e provision-lock || true').trim()).toBe('0');
      expect(onRobot(r, 'cd && ls -A . | grep -c provision-lock || true').trim()).toBe('0');
    }
    expect(new Set(ROBOTS.map(clusterOf)).size).toBe(1);
    expect(onRobot('Anton', "docker node ls --format '{{.Hostname}}'").trim().split('\n').sort()).toEqual(['Anton', 'Emil', 'Ida', 'Otto']);
  }, 180_000);

  it('the leader lost for good: quorum loss is named with its recovery, and provision recover restores a working swarm', async () => {
    lab('link', 'Anton', 'down');
    lab('link', 'Ida', 'down');
    try {
      const lost = await provision(op, ['swarm', '-i', inventory, '--connect-timeout', '2']);
      expect(lost.code).toBe(1);
      expect(lost.stdout).toMatch(/Otto\s+failed\s+.*the swarm has lost quorum.*provision recover --on Otto/);
      const refused = await provision(op, ['recover', '-i', inventory, '--on', 'Otto', '--connect-timeout', '2']);
      expect(refused.code).toBe(2); // asks first; no terminal here
      const recovered = await provision(op, ['recover', '-i', inventory, '--on', 'Otto', '--yes', '--connect-timeout', '2']);
      expect(recovered.stdout).toMatch(/Otto\s+changed\s+.*only manager of the recovered swarm/);
      const again = await provision(op, ['swarm', '-i', inventory, '--connect-timeout', '2']);
      expect(again.stdout).toMatch(/Otto\s+(ok|changed)\s+manager/);
      expect(again.stdout).toMatch(/Emil\s+(ok|changed)/);
      expect(onRobot('Otto', "docker node ls --format '{{.Hostname}} {{.ManagerStatus}}'")).toMatch(/Otto Leader/);
    } finally {
      lab('link', 'Anton', 'up');
      lab('link', 'Ida', 'up');
    }
  }, 240_000);
});
