// The boot-time join: the unit and install-command builders, and the join script itself run by a
// local sh against a fake `docker` (and `sudo`) on PATH.
import { afterAll, beforeEach, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  installServiceCommand,
  parseInstallOutput,
  SCRIPT_PATH,
  serviceTemplates,
  serviceUnit,
  UNIT_PATH,
} from '../../src/steps/service.js';

const SCRIPT = fileURLToPath(new URL('../../templates/provision-join.sh', import.meta.url));
const TOKEN = 'SWMTKN-1-0123456789abcdefghijklmnopqrstuvwxyz-secretpart';
const work = mkdtempSync(join(tmpdir(), 'provision-service-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
/** The script as installed: the template with engine_join put in. */
const INSTALLED = join(work, 'provision-join.sh');
writeFileSync(INSTALLED, serviceTemplates().script);

describe('the systemd unit', () => {
  const { unit } = serviceTemplates();

  it('names the robot user, the installed script, and orders after the network and docker', () => {
    const text = serviceUnit(unit, 'ida', false);
    expect(text).toMatch(/^User=ida$/m);
    expect(text).toMatch(/^ExecStart=\/usr\/local\/lib\/provision\/provision-join\.sh$/m);
    expect(text).toMatch(/^Type=oneshot$/m);
    expect(text).toMatch(/^RemainAfterExit=yes$/m);
    expect(text).toMatch(/^After=.*network-online\.target.*docker\.service/m);
    expect(text).toMatch(/^Wants=.*network-online\.target/m);
    expect(text).toMatch(/^WantedBy=multi-user\.target$/m);
    expect(text).toContain('Environment="PROVISION_DOCKER="');
    expect(text).not.toContain('@');
  });

  it('runs docker through sudo -n where the inventory says sudo', () => {
    expect(serviceUnit(unit, 'robot', true)).toContain('Environment="PROVISION_DOCKER=sudo -n docker"');
  });

  it('refuses a user that is no Linux user name (no line injection into the unit)', () => {
    expect(() => serviceUnit(unit, 'ida\nExecStartPre=/bin/evil', false)).toThrow(/not a Linux user name/);
    expect(() => serviceUnit(unit, "a'b", false)).toThrow(/not a Linux user name/);
  });
});

describe('the install command', () => {
  const CONSTANTS = 'swarm_tokens advertise_addr provision-join.service';
  it('carries both files on stdin and only fixed paths and checked values on the command line', () => {
    const plan = installServiceCommand('ida', false, { advertiseAddr: '10.0.0.2' });
    expect(plan.command.startsWith("sh -c '")).toBe(true);
    expect(plan.command.endsWith(` provision 0 ${SCRIPT_PATH} ${UNIT_PATH} 1 10.0.0.2 ${CONSTANTS}`)).toBe(true);
    expect(plan.command).not.toContain('docker swarm join');
    const [n1, d1, n2, d2] = plan.stdin.split('\n');
    expect([n1, n2]).toEqual(['script', 'unit']);
    expect(Buffer.from(d1 ?? '', 'base64').toString()).toBe(serviceTemplates().script);
    expect(Buffer.from(d2 ?? '', 'base64').toString()).toBe(plan.unit);
    expect(plan.unit).toMatch(/^User=ida$/m);
  });

  it('a dry run, and a test root that leaves systemd alone', () => {
    expect(installServiceCommand('ida', false, { dryRun: true }).command).toMatch(
      / provision 1 \S+ \S+ 1 '' swarm_tokens advertise_addr \S+$/,
    );
    expect(installServiceCommand('ida', false, { root: '/tmp/r' }).command).toContain(
      ` provision 0 /tmp/r${SCRIPT_PATH} /tmp/r${UNIT_PATH} 0 '' ${CONSTANTS}`,
    );
  });

  it('refuses hostile values rather than quoting them into a file', () => {
    expect(() => installServiceCommand('ida', false, { advertiseAddr: '10.0.0.2; reboot' })).toThrow(/not an IPv4/);
    expect(() => installServiceCommand('ida', false, { advertiseAddr: '10.0.0.300' })).toThrow(/not an IPv4/);
    expect(() => installServiceCommand('ida', false, { root: "/tmp/a'b" })).toThrow(/absolute path/);
    expect(() => installServiceCommand('ida', false, { root: 'relative' })).toThrow(/absolute path/);
  });

  it('a shell reads back exactly the intended argv; the installer and the join script are valid sh', () => {
    const plan = installServiceCommand('ida', true, { advertiseAddr: '10.0.0.2', root: '/tmp/x' });
    const words = spawnSync('sh', ['-c', `for a in ${plan.command}; do printf '%s\\0' "$a"; done`], { encoding: 'utf8' }).stdout.split(
      '\0',
    );
    expect(words.slice(0, 2)).toEqual(['sh', '-c']);
    expect(words.slice(3, -1)).toEqual([
      'provision',
      '0',
      `/tmp/x${SCRIPT_PATH}`,
      `/tmp/x${UNIT_PATH}`,
      '0',
      '10.0.0.2',
      ...CONSTANTS.split(' '),
    ]);
    expect(words[2]).toContain('systemctl is-enabled --quiet "$8"');
    expect(spawnSync('sh', ['-n'], { input: words[2] }).status).toBe(0);
    expect(spawnSync('sh', ['-n', SCRIPT]).status).toBe(0);
    expect(spawnSync('sh', ['-n', INSTALLED]).status).toBe(0);
    expect(statSync(SCRIPT).mode & 0o111).not.toBe(0);
  });

  it('installs the template with engine_join put in at its marker, and the template alone joins with no token in any argv', () => {
    const template = readFileSync(SCRIPT, 'utf8');
    const installed = serviceTemplates().script;
    expect(template).toMatch(/^# @ENGINE_JOIN@$/m);
    expect(installed).not.toContain('@ENGINE_JOIN@');
    expect(installed).toMatch(/^engine_join\(\) \{$/m);
    expect(installed.split(/^engine_join\(\) \{$/m)[0]).toBe(template.split(/^# @ENGINE_JOIN@$/m)[0]);
    // No command of the script carries a token: the join goes through dial-stdio only.
    const code = installed.split('\n').filter((l) => !/^\s*#/.test(l));
    expect(code.filter((l) => /--token|docker_cmd swarm join/.test(l))).toEqual([]);
    expect(code.filter((l) => l.includes('engine_join "$tok"'))).toHaveLength(1);
  });

  it('parses what the installer did', () => {
    expect(parseInstallOutput('changed:script\nchanged:unit\nenabled\n')).toEqual({
      changed: ['script', 'unit'],
      enabled: true,
      systemd: true,
    });
    expect(parseInstallOutput('no-systemd\n')).toEqual({ changed: [], enabled: false, systemd: false });
  });

  // Runs the real installer into a temporary root (needs root for the root-owned files: skipped otherwise).
  const asRoot = process.getuid?.() === 0 ? it : it.skip;
  asRoot('installs into a root, idempotently, and writes advertise_addr 600', () => {
    const root = mkdtempSync(join(work, 'root-'));
    const home = mkdtempSync(join(work, 'home-'));
    const run = (dry = false) => {
      const plan = installServiceCommand('ida', false, { root, advertiseAddr: '10.0.0.2', dryRun: dry });
      const r = spawnSync('sh', ['-c', plan.command], {
        input: plan.stdin,
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', HOME: home },
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      return parseInstallOutput(r.stdout);
    };
    expect(run(true).changed).toEqual(['script', 'unit', 'advertise_addr']);
    expect(run().changed).toEqual(['script', 'unit', 'advertise_addr']);
    expect(run().changed).toEqual([]);
    expect(readFileSync(join(root, UNIT_PATH), 'utf8')).toMatch(/^User=ida$/m);
    expect((statSync(join(root, SCRIPT_PATH)).mode & 0o777).toString(8)).toBe('755');
    expect(readFileSync(join(home, 'swarm_tokens', 'advertise_addr'), 'utf8')).toBe('10.0.0.2\n');
    expect((statSync(join(home, 'swarm_tokens', 'advertise_addr')).mode & 0o777).toString(8)).toBe('600');
    expect((statSync(join(home, 'swarm_tokens')).mode & 0o777).toString(8)).toBe('700');
  });
});

// A fake docker: state in $FAKE/state, every call's arguments logged to $FAKE/calls. `system dial-stdio` is
// the Engine API: the request on stdin, its join logged to $FAKE/joins as "ADVERTISE MANAGER TOKEN"; it
// joins only via $FAKE_GOOD, hangs in `pending` via $FAKE_HANG (as with a manager that is down), else answers
// docker's error naming the token; without $FAKE_SOCKET_OK (set by the fake sudo) the socket is "permission
// denied" when $FAKE_NEEDS_SUDO is set.
const FAKE_DOCKER = `#!/bin/sh
echo "$*" >> "$FAKE/calls"
if [ -n "\${FAKE_NEEDS_SUDO:-}" ] && [ -z "\${FAKE_SOCKET_OK:-}" ]; then echo "permission denied while trying to connect to the Docker daemon socket" >&2; exit 1; fi
answer() { printf 'HTTP/1.0 %s\\r\\nContent-Type: application/json\\r\\nContent-Length: %s\\r\\n\\r\\n%s\\n' "$1" "$((\${#2} + 1))" "$2"; }
case "$1 $2" in
  "info --format")
    case "$3" in *LocalNodeState*) cat "$FAKE/state" ;; *) echo nodeid ;; esac ;;
  "system dial-stdio")
    req=$(cat)
    field() { printf '%s' "$req" | sed -n "s/.*\\"$1\\":\\\\[*\\"\\\\([^\\"]*\\\\)\\".*/\\\\1/p"; }
    m=$(field RemoteAddrs) tok=$(field JoinToken)
    echo "$(field AdvertiseAddr) $m $tok" >> "$FAKE/joins"
    case $req in "POST /swarm/join HTTP/1.0"*) ;; *) answer "404 Not Found" '{"message":"page not found"}'; exit 0 ;; esac
    if [ "$m" = "\${FAKE_GOOD:-}" ]; then echo active > "$FAKE/state"; printf 'HTTP/1.0 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n'; exit 0; fi
    if [ "$m" = "\${FAKE_HANG:-}" ]; then echo pending > "$FAKE/state"; answer "503 Service Unavailable" '{"message":"Timeout was reached before node joined. Use the \\"docker info\\" command"}'; exit 0; fi
    answer "500 Internal Server Error" "{\\"message\\":\\"could not reach $m with token $tok \\\\u003cno route\\\\u003e\\"}" ;;
  "swarm leave") echo inactive > "$FAKE/state" ;;
  *) exit 3 ;;
esac
`;
const FAKE_SUDO = `#!/bin/sh
[ "$1" = -n ] && shift
FAKE_SOCKET_OK=1 exec "$@"
`;

describe('provision-join.sh against a fake docker', () => {
  let fake: string;
  let home: string;
  beforeEach(() => {
    fake = mkdtempSync(join(work, 'fake-'));
    home = mkdtempSync(join(work, 'home-'));
    mkdirSync(join(fake, 'bin'));
    writeFileSync(join(fake, 'bin', 'docker'), FAKE_DOCKER);
    writeFileSync(join(fake, 'bin', 'sudo'), FAKE_SUDO);
    chmodSync(join(fake, 'bin', 'docker'), 0o755);
    chmodSync(join(fake, 'bin', 'sudo'), 0o755);
    writeFileSync(join(fake, 'state'), 'inactive\n');
    mkdirSync(join(home, 'swarm_tokens'), { mode: 0o700 });
    writeFileSync(join(home, 'swarm_tokens', 'join_addresses'), '10.0.0.1:2377\n10.0.0.3:2377\n', { mode: 0o600 });
    writeFileSync(join(home, 'swarm_tokens', 'manager_token'), `${TOKEN}\n`, { mode: 0o600 });
  });

  const join_ = (env: Record<string, string> = {}, args: string[] = []) => {
    const r = spawnSync('sh', [INSTALLED, ...args], {
      encoding: 'utf8',
      env: { PATH: `${join(fake, 'bin')}:${process.env.PATH ?? ''}`, HOME: home, FAKE: fake, PROVISION_JOIN_SLEEP: '0', ...env },
    });
    const read = (name: string) => (existsSync(join(fake, name)) ? readFileSync(join(fake, name), 'utf8') : '');
    const calls = read('calls');
    expect(r.stdout + r.stderr).not.toContain('secretpart');
    expect(calls).not.toContain('SWMTKN'); // no docker (or sudo) call had a token among its arguments
    return { code: r.status, out: r.stdout + r.stderr, calls, joins: read('joins').split('\n').filter(Boolean) };
  };

  it('does nothing when the node is in a swarm already', () => {
    writeFileSync(join(fake, 'state'), 'active\n');
    const r = join_({ FAKE_GOOD: '10.0.0.1:2377' });
    expect(r.code).toBe(0);
    expect(r.out).toContain('in a swarm already (state: active)');
    expect(r.joins).toEqual([]);
  });

  it('tries each manager in order until one takes it, advertising advertise_addr', () => {
    writeFileSync(join(home, 'swarm_tokens', 'advertise_addr'), '10.0.0.2\n');
    const r = join_({ FAKE_GOOD: '10.0.0.3:2377' });
    expect(r.code).toBe(0);
    expect(r.out).toContain('joined the swarm as manager via 10.0.0.3:2377 (advertising 10.0.0.2)');
    expect(r.out).toContain('SWMTKN-<hidden>'); // docker's error about the first manager, token hidden
    expect(r.out).toContain('joining via 10.0.0.1:2377 failed: Error response from daemon: could not reach 10.0.0.1:2377 with token');
    expect(r.out).toContain('<no route>'); // the JSON's escapes undone
    expect(r.joins).toEqual([`10.0.0.2 10.0.0.1:2377 ${TOKEN}`, `10.0.0.2 10.0.0.3:2377 ${TOKEN}`]);
  });

  it('cancels a join left pending on a manager that does not answer and tries the next', () => {
    const r = join_({ FAKE_HANG: '10.0.0.1:2377', FAKE_GOOD: '10.0.0.3:2377', PROVISION_JOIN_PENDING_WAIT: '1' });
    expect(r.code).toBe(0);
    expect(r.out).toContain('still pending after 1s via 10.0.0.1:2377: cancelling that attempt');
    expect(r.calls).toContain('swarm leave --force');
    expect(r.joins.map((l) => l.split(' ')[1])).toEqual(['10.0.0.1:2377', '10.0.0.3:2377']);
  });

  it('a join found pending at start is waited for, then redone', () => {
    writeFileSync(join(fake, 'state'), 'pending\n');
    const r = join_({ FAKE_GOOD: '10.0.0.1:2377', PROVISION_JOIN_PENDING_WAIT: '0' });
    expect(r.code).toBe(0);
    expect(r.out).toContain('a join started earlier is pending');
    expect(r.joins).toHaveLength(1);
  });

  it('lets docker choose the address when there is no advertise_addr; prefers worker_token if both exist', () => {
    writeFileSync(join(home, 'swarm_tokens', 'worker_token'), 'SWMTKN-1-worker-secretpart\n');
    const r = join_({ FAKE_GOOD: '10.0.0.1:2377' });
    expect(r.code).toBe(0);
    expect(r.out).toContain('joining as worker');
    expect(r.joins).toEqual([' 10.0.0.1:2377 SWMTKN-1-worker-secretpart']); // no AdvertiseAddr: docker picks
  });

  it('retries the whole list a bounded number of times, then fails with a clear message', () => {
    const r = join_({ PROVISION_JOIN_ATTEMPTS: '3' });
    expect(r.code).toBe(1);
    expect(r.joins).toHaveLength(6);
    expect(r.out).toContain('round 3/3: joining via 10.0.0.3:2377 failed');
    expect(r.out).toContain('could not join the swarm as manager after 3 round(s) over 2 manager address(es)');
  });

  it('fails with exit 2 and says what to do when there is no token', () => {
    rmSync(join(home, 'swarm_tokens', 'manager_token'));
    const r = join_();
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/no token in .*swarm_tokens .*run 'provision swarm'/);
    expect(r.calls).toBe('');
  });

  it('takes the home folder as an argument (root running it for a user)', () => {
    const r = join_({ HOME: '/nonexistent', FAKE_GOOD: '10.0.0.1:2377' }, [home]);
    expect(r.code).toBe(0);
    expect(r.joins).toHaveLength(1);
  });

  it('refuses a manager address that would read as an option', () => {
    writeFileSync(join(home, 'swarm_tokens', 'join_addresses'), '--help\n');
    const r = join_({ FAKE_GOOD: '--help' });
    expect(r.code).toBe(2);
    expect(r.out).toContain("bad manager address '--help'");
  });

  it('uses sudo -n docker when the user may not use the socket, or PROVISION_DOCKER', () => {
    const auto = join_({ FAKE_NEEDS_SUDO: '1', FAKE_GOOD: '10.0.0.1:2377' });
    expect(auto.code).toBe(0);
    expect(auto.out).toContain('joined the swarm as manager via 10.0.0.1:2377');
    writeFileSync(join(fake, 'state'), 'inactive\n');
    const given = join_({ FAKE_NEEDS_SUDO: '1', FAKE_GOOD: '10.0.0.1:2377', PROVISION_DOCKER: 'sudo -n docker' });
    expect(given.code).toBe(0);
  });

  it('waits for a docker that does not answer yet, within the bound', () => {
    writeFileSync(
      join(fake, 'bin', 'docker'),
      '#!/bin/sh\necho "Cannot connect to the Docker daemon at unix:///var/run/docker.sock" >&2\nexit 1\n',
    );
    const r = join_({ PROVISION_JOIN_ATTEMPTS: '2' });
    expect(r.code).toBe(1);
    expect(r.out).toContain('round 2/2: docker does not answer yet: Cannot connect to the Docker daemon');
  });
});
