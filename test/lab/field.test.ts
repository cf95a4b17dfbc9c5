// Robots as they come from the field: a login shell that greets on every session (Ida), fish as the
// login shell (Otto), SSH files as users really keep them (Emil), ~/.ssh on a full and then a
// read-only disk (Paula). keys and swarm must work on each, lose nothing, and name what they cannot do.
// Then robots that misbehave: a ~/.bashrc that prints 2 GB (Paula), a hostname holding an escape sequence (Anton).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  assertLabRoute,
  fileHashes,
  finishLab,
  lab,
  labDown,
  labUp,
  newOperator,
  onRobot,
  provision,
  reportRows,
  startProvision,
  until,
  type Operator,
} from './harness.js';

const ROBOTS = ['Anton', 'Ida', 'Otto', 'Emil', 'Paula'];
const GREETING = 'Welcome to';
// Emil's own files: CRLF line endings, no final newline, Include and Match first, a symlink into a dotfiles repository.
let EMIL_AUTH: string; // a real key of Emil's, on a CRLF line after a comment, no final newline
const EMIL_CONFIG = 'Include ~/.ssh/conf.d/*\r\nMatch host gitlab.example\r\n    User git\r\n';
const EMIL_KNOWN = 'gitlab.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUserKnownHostLine';

let inventory: string;
let op: Operator;
let paulaBefore: string;

/** Every entry of ~/.ssh (hidden ones too) with its size, mode and time, and every file's hash. */
const sshState = (robot: string) =>
  onRobot(robot, 'cd && ls -lA --time-style=full-iso .ssh; find .ssh -type f -exec sha256sum {} + | sort -k2');

beforeAll(() => {
  labDown();
  inventory = labUp(5, { LAB_FIELD: 'Ida:talkative Otto:fish Paula:ssh-full' });
  for (let i = 11; i <= 15; i++) assertLabRoute(`10.88.0.${i}`);
  op = newOperator();
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'emil@laptop', '-f', join(op.home, 'emil_key')]);
  EMIL_AUTH = `# my keys\r\n${readFileSync(join(op.home, 'emil_key.pub'), 'utf8').trim()}`;
  onRobot(
    'Emil',
    [
      'umask 077; mkdir -p ~/.ssh/conf.d ~/dotfiles',
      `printf '%s' '${EMIL_AUTH}' > ~/.ssh/authorized_keys`,
      `printf '%s' '${EMIL_CONFIG}' > ~/.ssh/config`,
      `printf '%s' '${EMIL_KNOWN}' > ~/dotfiles/known_hosts && ln -s ../dotfiles/known_hosts ~/.ssh/known_hosts`,
    ].join(' && '),
  );
  paulaBefore = sshState('Paula');
}, 180_000);

afterAll(() => finishLab(op), 120_000);

describe('field robots', () => {
  it("the fixtures are what they claim: Ida greets, Otto runs fish, Paula's ~/.ssh is full", () => {
    expect(lab('exec', 'Ida', 'env', '-u', 'SHLVL', 'SSH_CLIENT=10.88.0.1 1 22', 'bash', '-c', 'true')).toContain(GREETING); // as sshd runs it
    expect(lab('exec', 'Otto', 'sh', '-c', 'getent passwd otto | cut -d: -f7').trim()).toMatch(/fish$/);
    expect(() => onRobot('Paula', 'echo x > ~/.ssh/probe; r=$?; rm -f ~/.ssh/probe; exit $r')).toThrow();
  });

  it('keys: the greeting robot and the fish robot get everything; the full disk is named and its files untouched', async () => {
    const run = await provision(op, ['keys', '-i', inventory]);
    expect(run.code).toBe(1);
    expect(reportRows(run.stdout, 'Paula')).toMatch(/failed/);
    expect(run.stdout).toMatch(/No space left on device/);
    expect(reportRows(run.stdout, 'Paula')).not.toMatch(/updated ~\/\.ssh/); // never claimed
    expect(sshState('Paula')).toBe(paulaBefore);
    for (const r of ['Anton', 'Ida', 'Otto', 'Emil']) expect(reportRows(run.stdout, r)).toMatch(/changed/);
    expect(run.stdout).toMatch(/its login shell \/bin\/bash prints on non-interactive sessions \(from ~\/\.bashrc\)/);
    expect(run.stdout).not.toMatch(/Packet length|exceeds max length/);
    // the mesh works by name, from and to the greeting robot and the fish robot
    expect(onRobot('Otto', 'ssh -o BatchMode=yes Anton hostname').trim()).toBe('Anton');
    expect(onRobot('Anton', 'ssh -o BatchMode=yes Otto hostname').trim()).toBe('Otto');
    expect(onRobot('Anton', 'ssh -o BatchMode=yes Ida hostname')).toMatch(/Ida$/m);
  }, 180_000);

  it("Emil's own lines survive byte for byte and stock OpenSSH accepts every file", () => {
    const auth = onRobot('Emil', 'cat ~/.ssh/authorized_keys');
    expect(auth.startsWith(EMIL_AUTH + '\n# BEGIN provision')).toBe(true);
    expect(onRobot('Emil', 'cat ~/.ssh/config').endsWith(EMIL_CONFIG)).toBe(true);
    expect(onRobot('Emil', 'test -L ~/.ssh/known_hosts && cat ~/dotfiles/known_hosts').startsWith(EMIL_KNOWN + '\n# BEGIN provision')).toBe(
      true,
    );
    expect(onRobot('Emil', 'ssh-keygen -l -f ~/.ssh/authorized_keys')).toContain('emil@laptop');
    expect(onRobot('Emil', 'ssh -G Ida').toLowerCase()).toContain('hostname 10.88.0.12');
    expect(onRobot('Emil', 'ssh-keygen -F Ida -f ~/.ssh/known_hosts')).toContain('ssh-ed25519');
    expect(onRobot('Emil', 'ssh -o BatchMode=yes Ida hostname')).toMatch(/Ida$/m);
  });

  it('swarm: all five join, the greeting and the fish robot too', async () => {
    const run = await provision(op, ['swarm', '-i', inventory]);
    expect(run.code).toBe(0);
    const nodes = onRobot('Anton', "docker node ls --format '{{.Hostname}} {{.Status}}'").trim().split('\n').sort();
    expect(nodes).toEqual(ROBOTS.map((r) => `${r} Ready`).sort());
  }, 240_000);

  it('no file provision wrote holds the greeting', () => {
    for (const r of ROBOTS) expect(onRobot(r, `cd && grep -rl '${GREETING}' .ssh swarm_tokens 2>/dev/null || true`).trim()).toBe('');
  });

  it('a read-only ~/.ssh is named with its cause; once writable, keys completes', async () => {
    lab('field', 'Paula', 'ssh-rw');
    lab('field', 'Paula', 'ssh-ro');
    const before = sshState('Paula');
    const ro = await provision(op, ['keys', '-i', inventory]);
    expect(ro.code).toBe(1);
    expect(reportRows(ro.stdout, 'Paula')).toMatch(/failed/);
    expect(ro.stdout).toMatch(/Read-only file system/);
    expect(sshState('Paula')).toBe(before);
    lab('field', 'Paula', 'ssh-rw');
    const fixed = await provision(op, ['keys', '-i', inventory]);
    expect(fixed.code).toBe(0);
    expect(reportRows(fixed.stdout, 'Paula')).toMatch(/changed/);
  }, 240_000);

  it('a re-run of keys and swarm changes nothing on any robot', async () => {
    const hashes = ROBOTS.map((r) => fileHashes(r, '.ssh') + fileHashes(r, 'swarm_tokens'));
    const keys = await provision(op, ['keys', '-i', inventory]);
    const swarm = await provision(op, ['swarm', '-i', inventory]);
    expect(keys.code).toBe(0);
    expect(swarm.code).toBe(0);
    for (const out of [keys.stdout, swarm.stdout]) expect(out).not.toMatch(/\b(changed|joined)\b/);
    expect(ROBOTS.map((r) => fileHashes(r, '.ssh') + fileHashes(r, 'swarm_tokens'))).toEqual(hashes);
  }, 240_000);
});

describe('robots that misbehave', () => {
  /** The provision process's peak memory, polled from /proc while it runs (VmHWM: the kernel's own high-water mark). */
  async function peakRssMb(run: ReturnType<typeof startProvision>): Promise<{ result: Awaited<typeof run.done>; peakMb: number }> {
    let peakKb = 0;
    const status = `/proc/${run.child.pid}/status`;
    const sample = () => {
      try {
        const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(status, 'utf8'))?.[1];
        peakKb = Math.max(peakKb, Number(hwm ?? 0));
      } catch {
        // the process has ended
      }
    };
    const timer = setInterval(sample, 20);
    const result = await run.done;
    clearInterval(timer);
    return { result, peakMb: peakKb / 1024 };
  }

  it("a ~/.bashrc printing 2 GB fails that robot with the reason and the count, the laptop's memory and log stay bounded; a hostname with an escape sequence is shown escaped", async () => {
    lab('field', 'Paula', 'flood:2G');
    // The kernel takes any bytes as a hostname (the hostname tool refuses them); swarmkit reports it within 20 s.
    lab('rexec', 'Anton', 'sh', '-c', "printf 'Anton\\033[31mX' > /proc/sys/kernel/hostname");
    await until(
      "Anton's new hostname in the node list",
      () => onRobot('Ida', "docker node ls --format '{{.Hostname}}'").includes('Anton\x1b[31mX'),
      40_000,
      500,
    );
    const { result: run, peakMb } = await peakRssMb(startProvision(op, ['swarm', '--dry-run', '-i', inventory]));
    expect(run.code).toBe(1);
    const paula = reportRows(run.stdout, 'Paula');
    expect(paula).toMatch(/failed/);
    expect(paula).toMatch(/login shell \(a start-up file such as ~\/\.bashrc\) printed more than 1 MiB on stdout: \d+ bytes had arrived/);
    expect(paula).toContain('it began with "\\u001b[31mflooding\\ny\\ny\\n');
    for (const r of ['Anton', 'Ida', 'Otto', 'Emil']) expect(reportRows(run.stdout, r)).not.toMatch(/failed|unreachable/);
    expect(peakMb).toBeGreaterThan(10); // the sampling saw the process
    expect(peakMb).toBeLessThan(250);
    // Anton's hostname in the node table, escaped; not one raw control character in anything printed or logged
    expect(run.stdout).toContain('Anton\\x1b[31mX');
    const log = join(op.logDir, 'provision.log');
    const logged = readFileSync(log, 'utf8');
    expect(logged).toContain('\\u001b[31mflooding');
    for (const text of [run.stdout, run.stderr, logged]) expect(text).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/); // eslint-disable-line no-control-regex
    expect(statSync(log).size).toBeLessThanOrEqual(8 * 1024 * 1024);
    // the largest answer provision reads, against the 1 MiB bound (README Limits)
    const nodeList = onRobot('Ida', "docker node inspect --format '{{json .}}' $(docker node ls -q) | wc -c").trim();
    console.log(
      `flooding robot: provision's peak RSS ${peakMb.toFixed(0)} MB, ${run.ms} ms, log ${statSync(log).size} bytes; node list ${nodeList} bytes for 5 nodes`,
    );
    lab('field', 'Paula', 'flood:0');
  }, 120_000);
});
