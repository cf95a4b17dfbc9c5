import { describe, expect, it } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  explainDockerError,
  factsCommand,
  joinCommand,
  joinStateCommand,
  managerStateCommand,
  parseJoinState,
  parseManagerState,
  labelAddCommand,
  parseFacts,
  parseNodes,
  swarmInitCommand,
  syncTokensCommand,
  tokenFilesPayload,
  tokensInSync,
} from '../../src/remote/docker.js';
import type { RemoteCommand } from '../../src/remote/shell.js';

// The built command lines run for real in a local sh, with stand-ins for docker and sudo that
// print what reached them: quoting and the sudo password's path are checked, not assumed.
const fakeBin = mkdtempSync(join(tmpdir(), 'provision-fakebin-'));
writeFileSync(join(fakeBin, 'docker'), '#!/bin/sh\nfor a in "$@"; do printf "[%s]" "$a"; done; echo\n');
writeFileSync(
  join(fakeBin, 'sudo'),
  '#!/bin/sh\nwhile [ $# -gt 0 ]; do case $1 in -S) IFS= read -r pw; echo "sudo got password ${#pw} chars";; -n) echo "sudo -n";; -k) ;; -p) shift;; *) break;; esac; shift; done\nexec "$@"\n',
);
chmodSync(join(fakeBin, 'docker'), 0o755);
chmodSync(join(fakeBin, 'sudo'), 0o755);
/** Run a command as the robot's sh would, with stdin as RobotConnection.exec sends it. */
function runLocally(command: RemoteCommand, sudoPassword = '', stdin = ''): string {
  const input = command.readsSudoPassword ? `${sudoPassword}\n${stdin}` : stdin;
  return execFileSync('/bin/sh', ['-c', command.line], { input, encoding: 'utf8', env: { PATH: `${fakeBin}:/usr/bin:/bin` } });
}
import { desiredLabels, labelUpdate, MANAGED_LABELS } from '../../src/plan/labels.js';
import type { Robot } from '../../src/inventory/schema.js';

describe('docker command builders', () => {
  it('builds swarm init with the static address and the inventory options', () => {
    expect(runLocally(swarmInitCommand('10.0.0.1', {}, false))).toBe('[swarm][init][--advertise-addr][10.0.0.1]\n');
    expect(
      runLocally(
        swarmInitCommand('10.0.0.1', { listenAddr: '10.0.0.1:2377', availability: 'drain', snapshotInterval: 5000, maxSnapshots: 2 }, true),
      ),
    ).toBe(
      'sudo -n\n[swarm][init][--advertise-addr][10.0.0.1][--listen-addr][10.0.0.1:2377][--availability][drain][--snapshot-interval][5000][--max-snapshots][2]\n',
    );
  });

  it('quotes label values and addresses nodes by ID', () => {
    const command = labelAddCommand('abc123', { CPU_COUNT: '4', NOTE: "a b'; rm -rf ~ $(id)" }, false);
    expect(runLocally(command)).toBe("[node][update][--label-add][CPU_COUNT=4][--label-add][NOTE=a b'; rm -rf ~ $(id)][abc123]\n");
  });

  it('through sudo: the password comes as the first stdin line, for every docker call, and never as an argument', () => {
    const command = labelAddCommand('abc123', { A: '1' }, true);
    expect(command.readsSudoPassword).toBe(true);
    expect(command.line).not.toContain('pw-123');
    expect(runLocally(command, 'pw-123')).toBe('sudo got password 6 chars\n[node][update][--label-add][A=1][abc123]\n');
    // without a password: sudo -n, which fails at once where sudo would ask
    expect(runLocally(command, '')).toBe('sudo -n\n[node][update][--label-add][A=1][abc123]\n');
    expect(labelAddCommand('abc123', { A: '1' }, false).readsSudoPassword).toBe(false);
  });

  it('never puts a token on the join command line: the robot reads its own file', () => {
    const { line } = joinCommand('worker', '10.0.0.2', ['10.0.0.1:2377'], false);
    expect(line).not.toMatch(/SWMTKN/);
    expect(line).toContain('"$dir/${role}_token"');
    expect(line).toMatch(/ provision swarm_tokens worker 10\.0\.0\.2 10\.0\.0\.1:2377$/);
  });

  it('encodes token files for stdin as name and base64 pairs', () => {
    const payload = tokenFilesPayload({ worker_token: 'SWMTKN-1-abc\n', join_addresses: '10.0.0.1:2377\n' });
    const [name, data] = payload.split('\n');
    expect(name).toBe('worker_token');
    expect(Buffer.from(data ?? '', 'base64').toString()).toBe('SWMTKN-1-abc\n');
    expect(payload).not.toContain('SWMTKN');
  });
});

describe('the join: the token in a request body to the engine, never an argument', () => {
  // A fake docker logging every call's arguments, and answering `system dial-stdio` (the Engine API) by the
  // manager the request names: 10.0.0.1 refuses, 10.0.0.5 times out with the join pending, any other takes it.
  const bin = mkdtempSync(join(tmpdir(), 'provision-fakejoin-'));
  const home = mkdtempSync(join(tmpdir(), 'provision-joinhome-'));
  const TOKEN = 'SWMTKN-1-abcdefghij0123456789-secretpart';
  writeFileSync(
    join(bin, 'docker'),
    [
      '#!/bin/sh',
      'echo "$*" >> "$HOME/argv"',
      'case "$*" in',
      '  "info --format {{.Swarm.LocalNodeState}}") cat "$HOME/state" ;;',
      '  "info --format {{.Swarm.NodeID}}") echo node7 ;;',
      '  "system dial-stdio") req=$(cat); printf "%s" "$req" > "$HOME/request"',
      '    case $req in',
      `      *'"RemoteAddrs":["10.0.0.1:2377"]'*) printf 'HTTP/1.0 500 Internal Server Error\\r\\nContent-Length: 40\\r\\n\\r\\n{"message":"rpc error: \\\\"refused\\\\" \\\\u003cx\\\\u003e"}\\n' ;;`,
      `      *'"RemoteAddrs":["10.0.0.5:2377"]'*) echo pending > "$HOME/state"; printf 'HTTP/1.0 503 Service Unavailable\\r\\n\\r\\n{"message":"Timeout was reached"}\\n' ;;`,
      `      *) echo active > "$HOME/state"; printf 'HTTP/1.0 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n' ;;`,
      '    esac ;;',
      'esac',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(bin, 'sudo'),
    '#!/bin/sh\necho "sudo $*" >> "$HOME/argv"\nwhile [ $# -gt 0 ]; do case $1 in -S) IFS= read -r pw;; -n|-k) ;; -p) shift;; *) break;; esac; shift; done\nexec "$@"\n',
  );
  chmodSync(join(bin, 'docker'), 0o755);
  chmodSync(join(bin, 'sudo'), 0o755);
  mkdirSync(join(home, 'swarm_tokens'), { mode: 0o700 });
  writeFileSync(join(home, 'swarm_tokens', 'worker_token'), `${TOKEN}\n`, { mode: 0o600 });

  const run = (managers: string[], sudo: boolean, sudoPassword = '') => {
    writeFileSync(join(home, 'state'), 'inactive\n');
    writeFileSync(join(home, 'argv'), '');
    const command = joinCommand('worker', '10.0.0.2', managers, sudo);
    const r = spawnSync('/bin/sh', ['-c', command.line], {
      input: command.readsSudoPassword ? `${sudoPassword}\n` : '',
      encoding: 'utf8',
      env: { PATH: `${bin}:/usr/bin:/bin`, HOME: home },
    });
    const argv = readFileSync(join(home, 'argv'), 'utf8');
    expect(argv).not.toContain('SWMTKN'); // no docker or sudo call had the token among its arguments
    expect(argv).not.toContain('pw-123');
    return { code: r.status, stdout: r.stdout, stderr: r.stderr, argv, request: readFileSync(join(home, 'request'), 'utf8') };
  };

  it('posts /swarm/join with the token in the JSON body, through sudo where the robot needs it', () => {
    for (const [sudo, password, via] of [
      [false, '', ''],
      [true, '', 'sudo -n docker system dial-stdio\n'],
      [true, 'pw-123', 'sudo -S -k -p  docker system dial-stdio\n'],
    ] as const) {
      const r = run(['10.0.0.3:2377'], sudo, password);
      expect(r).toMatchObject({ code: 0, stdout: 'node=node7\n', stderr: '' });
      expect(r.argv.startsWith(`${via}system dial-stdio\n`)).toBe(true);
      const [head, body] = r.request.split('\r\n\r\n');
      expect(head?.split('\r\n')[0]).toBe('POST /swarm/join HTTP/1.0');
      expect(head).toContain(`Content-Length: ${body?.length}`);
      expect(JSON.parse(body ?? '')).toEqual({
        JoinToken: TOKEN,
        ListenAddr: '0.0.0.0:2377',
        AdvertiseAddr: '10.0.0.2',
        RemoteAddrs: ['10.0.0.3:2377'],
        Availability: 'active',
      });
    }
  });

  it("says docker's error as its CLI does and tries the next manager; a join that timed out is pending", () => {
    const refused = run(['10.0.0.1:2377', '10.0.0.3:2377'], false);
    expect(refused).toMatchObject({ code: 0, stdout: 'node=node7\n' });
    expect(refused.stderr).toBe('Error response from daemon: rpc error: "refused" <x>\n');
    expect(run(['10.0.0.5:2377', '10.0.0.3:2377'], false)).toMatchObject({ code: 0, stdout: 'pending 10.0.0.5:2377\n' });
    expect(run(['10.0.0.1:2377'], false)).toMatchObject({ code: 1, stdout: '' });
  });

  it('refuses a token or an address that would change the JSON, sending nothing', () => {
    writeFileSync(join(home, 'request'), '');
    const r = run(['10.0.0.3:2377","10.9.9.9:2377'], false);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('holds a character that none holds');
    expect(r.request).toBe('');
  });
});

describe('token files on a re-run', () => {
  // The real sync script writes the files into a temporary HOME; the real facts script reads their
  // digests back (docker is the stand-in); tokensInSync decides whether anything must be sent.
  const home = mkdtempSync(join(tmpdir(), 'provision-tokens-'));
  const inHome = (line: string, stdin = '') =>
    execFileSync('/bin/sh', ['-c', line], { input: stdin, encoding: 'utf8', env: { PATH: `${fakeBin}:/usr/bin:/bin`, HOME: home } });
  const files = { worker_token: 'SWMTKN-1-worker\n', join_addresses: '10.0.0.1:2377\n', advertise_addr: '10.0.0.2\n' };
  const state = () => parseFacts(inHome(factsCommand(false).line), false).tokens;

  it('nothing is sent where the files are what they should be; any difference sends them', () => {
    expect(tokensInSync(state(), files)).toBe(false); // no folder yet
    inHome(syncTokensCommand(false), tokenFilesPayload(files));
    expect(state().dirMode).toBe('700');
    expect(tokensInSync(state(), files)).toBe(true);
    expect(tokensInSync(state(), { ...files, worker_token: 'SWMTKN-1-rotated\n' })).toBe(false); // content
    const managerFiles = {
      manager_token: 'SWMTKN-1-manager\n',
      join_addresses: files.join_addresses,
      advertise_addr: files.advertise_addr,
    };
    expect(tokensInSync(state(), managerFiles)).toBe(false); // worker_token to remove, manager_token to add
    chmodSync(join(home, 'swarm_tokens', 'worker_token'), 0o644);
    expect(tokensInSync(state(), files)).toBe(false); // mode
    inHome(syncTokensCommand(false), tokenFilesPayload(files));
    expect(tokensInSync(state(), files)).toBe(true);
    writeFileSync(join(home, 'swarm_tokens', 'worker_token.tmp.123'), 'half');
    expect(tokensInSync(state(), files)).toBe(false); // an interrupted write's leftover is cleaned by the sync
  });

  it('the facts carry digests, never the tokens themselves', () => {
    const out = inHome(factsCommand(false).line);
    expect(out).toMatch(/^token_file=worker_token 600 [0-9a-f]{64}$/m);
    expect(out).not.toContain('SWMTKN');
  });
});

describe('a join that goes on in the background', () => {
  it('is polled with one docker call for the swarm state, and its answer parsed', () => {
    expect(runLocally(joinStateCommand(true), 'pw')).toBe(
      'sudo got password 2 chars\n[info][--format][{{.Swarm.LocalNodeState}} {{.Swarm.NodeID}} {{.Swarm.Error}}]\n',
    );
    expect(parseJoinState('active abc123 \n')).toEqual({ state: 'active', nodeId: 'abc123', error: '' });
    expect(parseJoinState('pending  \n')).toEqual({ state: 'pending', nodeId: '', error: '' });
    expect(parseJoinState('error  rpc error: code = DeadlineExceeded\n')).toEqual({
      state: 'error',
      nodeId: '',
      error: 'rpc error: code = DeadlineExceeded',
    });
  });
});

describe('whether a robot answers as a manager', () => {
  it('asks docker for its state and control availability; only an active manager counts', () => {
    expect(runLocally(managerStateCommand(false))).toBe('[info][--format][{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}]\n');
    expect(parseManagerState('active true\n')).toBe(true);
    expect(parseManagerState('active false\n')).toBe(false);
    expect(parseManagerState('pending false\n')).toBe(false);
    expect(parseManagerState('')).toBe(false);
  });
});

describe('facts parsing', () => {
  it('reads hardware and swarm state', () => {
    const out =
      'arch=aarch64\ncpus=4\nmemkb=8000000\nhostname=Ida\nengine=AB:CD\nswarm={"NodeID":"n1","NodeAddr":"10.0.0.2","LocalNodeState":"active","ControlAvailable":true,"Error":"","RemoteManagers":null,"Cluster":{"ID":"c1"}}\n';
    const facts = parseFacts(out, false);
    expect(facts).toMatchObject({ arch: 'aarch64', cpus: 4, memKb: 8000000, hostname: 'Ida', engineId: 'AB:CD', dockerError: null });
    expect(facts.swarm?.Cluster?.ID).toBe('c1');
  });

  it('explains docker errors as things to do', () => {
    expect(
      parseFacts(
        'arch=x\ncpus=1\nmemkb=1\nhostname=h\ndocker_error=permission denied while trying to connect to the Docker daemon socket',
        false,
      ).dockerError,
    ).toMatch(/docker group.*sudo: true/);
    expect(
      explainDockerError('Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?', false),
    ).toMatch(/not running/);
    expect(explainDockerError('sudo: a password is required', true)).toMatch(/--ask-become-pass/);
    expect(explainDockerError('Sorry, try again.\nsudo: 1 incorrect password attempt', true)).toMatch(/refused the password/);
    expect(() => parseFacts('garbage', false)).toThrow(/could not understand the robot.s answer to reading facts/);
  });

  it('refuses docker JSON of another shape, naming the field, and facts that are not numbers', () => {
    const facts = (swarm: string) => () => parseFacts(`arch=x86_64\ncpus=2\nmemkb=1\nhostname=h\nswarm=${swarm}\n`, false);
    expect(facts('[]')).toThrow(/expected docker info's Swarm as JSON \(the value: /);
    expect(facts('{"NodeID":"n1"}')).toThrow(/expected docker info's Swarm as JSON \(LocalNodeState: /);
    expect(facts('{"NodeID":"n1","LocalNodeState":"active","RemoteManagers":"x"}')).toThrow(/RemoteManagers: /);
    expect(facts('{not json')).toThrow(/expected docker info's Swarm as JSON, got "\{not json"/);
    expect(() => parseFacts('arch=x86_64\ncpus=lots\n', false)).toThrow(/expected a whole number after "cpus=", got "lots"/);
    const node = (n: object) => () => parseNodes(JSON.stringify(n));
    const good = { ID: 'a', Spec: { Role: 'manager', Availability: 'active' }, Status: { State: 'ready' } };
    expect(node(good)()).toHaveLength(1);
    expect(node({ ...good, Spec: { Role: 'boss', Availability: 'active' } })).toThrow(
      /docker node inspect as JSON, a node a line \(Spec\.Role: /,
    );
    expect(node({ ...good, ID: '' })).toThrow(/\(ID: /);
    expect(() => parseNodes('Error: \x1b[31mno\n')).toThrow(/got "Error: \\u001b\[31mno"/); // escaped, never raw
  });

  it('parses nodes, taking a manager address from its Raft address when Status.Addr is 0.0.0.0', () => {
    const nodes = parseNodes(
      [
        JSON.stringify({
          ID: 'a',
          Spec: { Role: 'manager', Availability: 'active', Labels: { X: '1' } },
          Description: { Hostname: 'Anton' },
          Status: { State: 'ready', Addr: '0.0.0.0' },
          ManagerStatus: { Leader: true, Reachability: 'reachable', Addr: '10.0.0.1:2377' },
        }),
        JSON.stringify({
          ID: 'b',
          Spec: { Role: 'worker', Availability: 'active' },
          Description: { Hostname: 'Ida' },
          Status: { State: 'down', Addr: '10.0.0.2' },
        }),
      ].join('\n'),
    );
    expect(nodes).toEqual([
      {
        id: 'a',
        hostname: 'Anton',
        role: 'manager',
        state: 'ready',
        availability: 'active',
        addr: '10.0.0.1',
        leader: true,
        reachability: 'reachable',
        labels: { X: '1' },
      },
      {
        id: 'b',
        hostname: 'Ida',
        role: 'worker',
        state: 'down',
        availability: 'active',
        addr: '10.0.0.2',
        leader: false,
        reachability: null,
        labels: {},
      },
    ]);
  });
});

describe('labels', () => {
  const robot: Robot = {
    name: 'Ida',
    ip: '10.0.0.2',
    user: 'ida',
    port: 22,
    sudo: false,
    role: 'auto',
    canBecomeManager: true,
    canBecomeLeader: false,
    labels: { HAS_DB_DATA: true },
  };

  it('derives labels from facts and inventory', () => {
    expect(desiredLabels(robot, { arch: 'x86_64', cpus: 8, memKb: 8 * 1024 * 1024 - 200_000 })).toEqual({
      CAN_BECOME_MANAGER: 'true',
      CAN_BECOME_LEADER: 'false',
      CPU_ARCHITECTURE: 'x86_64',
      CPU_COUNT: '8',
      RAM_GE4: 'true',
      RAM_GE8: 'true',
      RAM_GE16: 'false',
      HAS_DB_DATA: 'true',
    });
  });

  it('sends only the difference and leaves foreign labels alone', () => {
    expect(labelUpdate({ CPU_COUNT: '8', MINE: 'x', [MANAGED_LABELS]: 'CPU_COUNT,RAM_GE4' }, { CPU_COUNT: '8', RAM_GE4: 'true' })).toEqual({
      add: { RAM_GE4: 'true' },
      remove: [],
    });
    expect(labelUpdate({ A: '1', [MANAGED_LABELS]: 'A' }, { A: '1' })).toEqual({ add: {}, remove: [] });
  });
});
