import { describe, expect, it, afterEach } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostSettings, loadSshConfig, operatorSshLookup, parseProxyJump, parseSshConfig } from '../../src/ssh/sshConfig.js';

const ctx = { localUser: 'op', home: '/home/op' };
const F = '/home/op/.ssh/config';
/** Settings for `names` from a literal config. */
function settings(text: string, names: string[], readInclude?: Parameters<typeof parseSshConfig>[2]) {
  return hostSettings(parseSshConfig(text, F, readInclude), names, ctx);
}

describe('parseSshConfig: line syntax', () => {
  it('reads `Keyword value`, `Keyword=value` and `Keyword = value`, lowercasing keywords', () => {
    const c = parseSshConfig('Host a\n  User alice\n  PORT=2200\n\tHostName = a.example   \n', F);
    expect(c.warnings).toEqual([]);
    expect(c.blocks).toHaveLength(1);
    expect(c.blocks[0]).toMatchObject({ kind: 'host', patterns: ['a'], file: F, line: 1 });
    expect(c.blocks[0]!.entries).toEqual([
      { keyword: 'user', args: ['alice'], file: F, line: 2 },
      { keyword: 'port', args: ['2200'], file: F, line: 3 },
      { keyword: 'hostname', args: ['a.example'], file: F, line: 4 },
    ]);
  });

  it('skips comments, blank lines and trailing comments, and keeps CRLF files working', () => {
    const c = parseSshConfig('# top\r\n\r\n   # indented\r\nHost a # the robot\r\n  User bob\r\n', F);
    expect(c.warnings).toEqual([]);
    expect(c.blocks[0]!.patterns).toEqual(['a']);
    expect(c.blocks[0]!.entries).toEqual([{ keyword: 'user', args: ['bob'], file: F, line: 5 }]);
  });

  it('groups quoted arguments and honours backslash escapes', () => {
    const c = parseSshConfig('IdentityFile "~/my keys/id"\nIdentityFile=\'/k 2\'\nSendEnv A\\ B "C"D\n', F);
    expect(c.blocks[0]!.entries.map((e) => e.args)).toEqual([['~/my keys/id'], ['/k 2'], ['A B', 'CD']]);
  });

  it('ignores a line with an unterminated quote, with a warning naming file and line', () => {
    const c = parseSshConfig('User ok\nIdentityFile "~/.ssh/broken\n', F);
    expect(c.warnings).toEqual([`${F}:2: cannot parse "IdentityFile "~/.ssh/broken"; line ignored`]);
    expect(settings('User ok\nIdentityFile "~/.ssh/broken\n', ['x']).identityFiles).toEqual([]);
  });

  it('puts entries before the first Host in a global block that applies to every host', () => {
    const c = parseSshConfig('User everyone\nHost a\n  Port 2\n', F);
    expect(c.blocks.map((b) => [b.kind, b.patterns, b.line])).toEqual([
      ['global', [], 1],
      ['host', ['a'], 2],
    ]);
    expect(hostSettings(c, ['zzz'], ctx).user).toBe('everyone');
    expect(hostSettings(c, ['a'], ctx)).toMatchObject({ user: 'everyone', port: 2 });
  });

  it('returns an empty config for empty text', () => {
    expect(parseSshConfig('', F)).toEqual({ blocks: [], warnings: [] });
  });
});

describe('hostSettings: Host patterns and first value wins', () => {
  it('lets a specific block win over `Host *` placed last', () => {
    const text = 'Host ida\n  User robot\n  Port 2222\nHost *\n  User fallback\n  Port 22\n  ConnectTimeout 5\n';
    expect(settings(text, ['ida'])).toMatchObject({ user: 'robot', port: 2222, connectTimeoutSeconds: 5 });
    expect(settings(text, ['other'])).toMatchObject({ user: 'fallback', port: 22, connectTimeoutSeconds: 5 });
  });

  it('lets `Host *` placed first win over any later block, as ssh does', () => {
    const text = 'Host *\n  User fallback\nHost ida\n  User robot\n  Port 2222\n';
    expect(settings(text, ['ida'])).toMatchObject({ user: 'fallback', port: 2222 });
  });

  it('matches `*` and `?` globs case-insensitively, with several patterns per line', () => {
    const text = 'Host rob? lab-* IDA\n  User r\n';
    expect(settings(text, ['robX']).user).toBe('r');
    expect(settings(text, ['robXY']).user).toBeUndefined();
    expect(settings(text, ['LAB-3']).user).toBe('r');
    expect(settings(text, ['ida']).user).toBe('r');
    expect(settings('Host a.b\n  User r\n', ['aXb']).user).toBeUndefined(); // the dot is literal
  });

  it('does not treat commas as a Host pattern separator', () => {
    expect(settings('Host a,b\n  User r\n', ['a']).user).toBeUndefined();
    expect(settings('Host a,b\n  User r\n', ['a,b']).user).toBe('r');
  });

  it('never applies a block whose negated pattern matches, whatever the order', () => {
    const text = 'Host !bad* robot-*\n  User r\nHost robot-* !robot-9\n  Port 2\n';
    expect(settings(text, ['robot-1'])).toMatchObject({ user: 'r', port: 2 });
    expect(settings(text, ['robot-9']).user).toBe('r');
    expect(settings(text, ['robot-9']).port).toBeUndefined();
    expect(settings(text, ['bad-robot-1']).user).toBeUndefined();
    // A negation alone matches nothing.
    expect(settings('Host !x\n  User r\n', ['y']).user).toBeUndefined();
  });

  it('matches any of the names, so an address pattern finds a robot known by name', () => {
    const text = 'Host 10.88.0.*\n  User robot\n  IdentityFile ~/.ssh/fleet\nHost *\n  User op\n';
    const s = settings(text, ['Ida', '10.88.0.12']);
    expect(s.user).toBe('robot');
    expect(s.identityFiles).toEqual(['/home/op/.ssh/fleet']);
    expect(settings(text, ['Ida', '10.88.1.12']).user).toBe('op');
  });

  it('drops a block when a negated pattern matches another of the names', () => {
    const text = 'Host * !10.88.0.*\n  User internet\n';
    expect(settings(text, ['Ida', '10.88.0.12']).user).toBeUndefined();
    expect(settings(text, ['Ida', '192.0.2.1']).user).toBe('internet');
  });

  it('warns about a Host line without patterns, which never applies', () => {
    const c = parseSshConfig('Host\n  User r\n', F);
    expect(c.warnings).toEqual([`${F}:1: Host without patterns; this block is never applied`]);
    expect(hostSettings(c, ['a'], ctx).user).toBeUndefined();
  });

  it('reads the typed settings', () => {
    const text = 'Host a\n IdentitiesOnly yes\n StrictHostKeyChecking Accept-New\n ServerAliveInterval 1m30s\n ConnectTimeout 2m\n';
    expect(settings(text, ['a'])).toEqual({
      identityFiles: [],
      proxyJump: [],
      identitiesOnly: true,
      strictHostKeyChecking: 'accept-new',
      serverAliveIntervalSeconds: 90,
      connectTimeoutSeconds: 120,
    });
    expect(settings('IdentitiesOnly no\n', ['a']).identitiesOnly).toBe(false);
  });

  it('returns only defaults when nothing applies', () => {
    expect(settings('Host b\n  User r\n', ['a'])).toEqual({ identityFiles: [], proxyJump: [] });
  });
});

describe('parseSshConfig: bad values are warnings and are ignored', () => {
  it('ignores a Port outside 1..65535 so a later one can win', () => {
    const text = 'Host a\n  Port 0\n  Port 70000\n  Port 22x\nHost *\n  Port 2022\n';
    const c = parseSshConfig(text, F);
    expect(c.warnings).toEqual([
      `${F}:2: Port "0": not an integer in 1..65535; ignored`,
      `${F}:3: Port "70000": not an integer in 1..65535; ignored`,
      `${F}:4: Port "22x": not an integer in 1..65535; ignored`,
    ]);
    expect(hostSettings(c, ['a'], ctx).port).toBe(2022);
  });

  it('ignores bad times, flags, StrictHostKeyChecking values and missing arguments', () => {
    const c = parseSshConfig('ConnectTimeout soon\nIdentitiesOnly maybe\nStrictHostKeyChecking perhaps\nUser\nUser a b\n', F);
    expect(c.warnings).toEqual([
      `${F}:1: ConnectTimeout "soon": not a time like 30, 30s or 1m30s; ignored`,
      `${F}:2: IdentitiesOnly "maybe": expected yes or no; ignored`,
      `${F}:3: StrictHostKeyChecking "perhaps": expected yes, no, ask, accept-new or off; ignored`,
      `${F}:4: User expects one argument; ignored`,
      `${F}:5: User expects one argument; ignored`,
    ]);
    expect(c.blocks).toEqual([]);
  });

  it('keeps unknown keywords as entries without interpreting them', () => {
    const c = parseSshConfig('ForwardAgent yes\n', F);
    expect(c.warnings).toEqual([]);
    expect(c.blocks[0]!.entries).toEqual([{ keyword: 'forwardagent', args: ['yes'], file: F, line: 1 }]);
  });
});

describe('HostName and IdentityFile', () => {
  it('expands %h in HostName to the first name, and %% to %', () => {
    expect(settings('Host *\n  HostName %h.lab.example\n', ['ida', '10.0.0.1']).hostName).toBe('ida.lab.example');
    expect(settings('HostName a%%b\n', ['x']).hostName).toBe('a%b');
  });

  it('warns about HostName tokens other than %h and %% and ignores that HostName', () => {
    const c = parseSshConfig('Host a\n  HostName %r.example\n  HostName ok.example\n', F);
    expect(c.warnings).toEqual([`${F}:2: HostName "%r.example": "%r" is not supported here; ignored`]);
    expect(hostSettings(c, ['a'], ctx).hostName).toBe('ok.example');
  });

  it('accumulates IdentityFile across blocks in order, without duplicates', () => {
    const text =
      'Host ida\n  IdentityFile ~/.ssh/ida\n  IdentityFile ~/.ssh/shared\nHost *\n  IdentityFile ~/.ssh/shared\n  IdentityFile /etc/keys/all\n';
    expect(settings(text, ['ida']).identityFiles).toEqual(['/home/op/.ssh/ida', '/home/op/.ssh/shared', '/etc/keys/all']);
    expect(settings(text, ['bob']).identityFiles).toEqual(['/home/op/.ssh/shared', '/etc/keys/all']);
  });

  it('expands %h %p %r %u %d %n %% and ~ with the final settings', () => {
    const text = [
      'Host ida',
      '  IdentityFile ~/.ssh/%h-%p-%r-%u',
      '  IdentityFile %d/k/%n%%',
      '  IdentityFile "~/my keys/id"',
      '  HostName 10.88.0.12',
      'Host *',
      '  User robot',
      '  Port 2222',
    ].join('\n');
    expect(settings(text, ['ida', '10.88.0.12']).identityFiles).toEqual([
      '/home/op/.ssh/10.88.0.12-2222-robot-op',
      '/home/op/k/ida%',
      '/home/op/my keys/id',
    ]);
  });

  it('falls back to the first name, port 22 and the local user', () => {
    expect(settings('IdentityFile ~/%h_%p_%r\n', ['ida']).identityFiles).toEqual(['/home/op/ida_22_op']);
  });

  it('leaves a ~ that is not a leading path element alone, and warns about unknown tokens', () => {
    expect(settings('IdentityFile ~other/k\nIdentityFile /a~/k\n', ['x']).identityFiles).toEqual(['~other/k', '/a~/k']);
    const c = parseSshConfig('IdentityFile ~/.ssh/%C\n', F);
    expect(c.warnings).toEqual([`${F}:1: IdentityFile "~/.ssh/%C": "%C" is not supported here; ignored`]);
    expect(hostSettings(c, ['x'], ctx).identityFiles).toEqual([]);
  });
});

describe('Match', () => {
  it('applies `Match all` to every host', () => {
    const c = parseSshConfig('Host a\n  User x\nMatch all\n  User y\n  Port 3\n', F);
    expect(c.warnings).toEqual([]);
    expect(hostSettings(c, ['a'], ctx)).toMatchObject({ user: 'x', port: 3 });
    expect(hostSettings(c, ['b'], ctx)).toMatchObject({ user: 'y', port: 3 });
  });

  it('matches `Match host` comma-separated lists with negation', () => {
    const text = 'Match host robot-*,!robot-9\n  User r\nMatch !host robot-*\n  User other\n';
    expect(settings(text, ['robot-1']).user).toBe('r');
    expect(settings(text, ['robot-9']).user).toBeUndefined();
    expect(settings(text, ['laptop']).user).toBe('other');
    expect(settings('Match host A,b\n  User r\n', ['a']).user).toBe('r');
  });

  it('matches `Match host` against the HostName obtained so far', () => {
    const text = 'Host ida\n  HostName 10.88.0.12\nMatch host 10.88.0.*\n  User robot\nMatch host ida\n  Port 2\n';
    const s = settings(text, ['ida']);
    expect(s).toMatchObject({ hostName: '10.88.0.12', user: 'robot' });
    expect(s.port).toBeUndefined();
  });

  it('requires every criterion on the line to match', () => {
    const text = 'Match host a* host *z\n  User r\n';
    expect(settings(text, ['abz']).user).toBe('r');
    expect(settings(text, ['ab']).user).toBeUndefined();
  });

  it('treats `Match user` as not matching, with a warning', () => {
    const c = parseSshConfig('Match user robot\n  Port 2\nMatch host x user robot\n  Port 3\n', F);
    expect(c.warnings).toEqual([
      `${F}:1: Match user: the remote user is not known yet, treated as not matching; this block is never applied`,
      `${F}:3: Match user: the remote user is not known yet, treated as not matching; this block is never applied`,
    ]);
    expect(hostSettings(c, ['x'], ctx).port).toBeUndefined();
  });

  it('never applies unsupported criteria, warning once per block with file and line', () => {
    const text =
      'Match exec "test -f /x" originalhost a\n  User e\nMatch canonical all\n  User c\nMatch localuser op\n  User l\nMatch\n  User n\nMatch host\n  User h\n';
    const c = parseSshConfig(text, F);
    expect(c.warnings).toEqual([
      `${F}:1: Match exec is not supported; this block is never applied`,
      `${F}:3: Match canonical is not supported; this block is never applied`,
      `${F}:5: Match localuser is not supported; this block is never applied`,
      `${F}:7: Match without criteria; this block is never applied`,
      `${F}:9: Match host without patterns; this block is never applied`,
    ]);
    expect(c.blocks[0]!.patterns).toEqual(['exec', 'test -f /x', 'originalhost', 'a']);
    expect(hostSettings(c, ['a'], ctx).user).toBeUndefined();
  });
});

describe('ProxyJump', () => {
  it('parses hosts, users, ports, IPv6 in brackets and ssh:// URIs', () => {
    expect(parseProxyJump('a,user@b:2222,[::1]:22,ssh://u@h:2200')).toEqual([
      { host: 'a' },
      { user: 'user', host: 'b', port: 2222 },
      { host: '::1', port: 22 },
      { user: 'u', host: 'h', port: 2200 },
    ]);
    expect(parseProxyJump('ssh://gw/')).toEqual([{ host: 'gw' }]);
    expect(parseProxyJump('[fe80::1%eth0]')).toEqual([{ host: 'fe80::1%eth0' }]);
    expect(parseProxyJump('me@corp@gw')).toEqual([{ user: 'me@corp', host: 'gw' }]);
  });

  it('throws a clear error on bad syntax', () => {
    expect(() => parseProxyJump('')).toThrow('ProxyJump "": empty element');
    expect(() => parseProxyJump('a,,b')).toThrow('ProxyJump "a,,b": empty element');
    expect(() => parseProxyJump('a,')).toThrow('ProxyJump "a,": empty element');
    expect(() => parseProxyJump('gw:0')).toThrow('ProxyJump "gw:0": port "0" in "gw:0" is not in 1..65535');
    expect(() => parseProxyJump('gw:65536')).toThrow('port "65536" in "gw:65536" is not in 1..65535');
    expect(() => parseProxyJump('gw:ssh')).toThrow('port "ssh" in "gw:ssh"');
    expect(() => parseProxyJump('gw:')).toThrow('port "" in "gw:"');
    expect(() => parseProxyJump('::1')).toThrow('ProxyJump "::1": bad host in "::1" (an IPv6 address goes in brackets)');
    expect(() => parseProxyJump('@gw')).toThrow('ProxyJump "@gw": empty user in "@gw"');
    expect(() => parseProxyJump('u@:22')).toThrow('bad host in "u@:22"');
    expect(() => parseProxyJump('a b')).toThrow('bad host in "a b"');
  });

  it('stores the parsed jump list, first value winning', () => {
    const text = 'Host ida\n  ProxyJump op@bastion:2200,gw\nHost *\n  ProxyJump other\n';
    expect(settings(text, ['ida']).proxyJump).toEqual([{ user: 'op', host: 'bastion', port: 2200 }, { host: 'gw' }]);
    expect(settings(text, ['bob']).proxyJump).toEqual([{ host: 'other' }]);
  });

  it('treats `ProxyJump none` as no jump that still wins over later ones', () => {
    const text = 'Host lab-*\n  ProxyJump None\nHost *\n  ProxyJump bastion\n';
    expect(settings(text, ['lab-1']).proxyJump).toEqual([]);
    expect(settings(text, ['far']).proxyJump).toEqual([{ host: 'bastion' }]);
  });

  it('turns a bad ProxyJump in the config into a warning and ignores it', () => {
    const text = 'Host a\n  ProxyJump gw:99999\nHost *\n  ProxyJump bastion\n';
    const c = parseSshConfig(text, F);
    expect(c.warnings).toEqual([`${F}:2: ProxyJump "gw:99999": port "99999" in "gw:99999" is not in 1..65535; ignored`]);
    expect(hostSettings(c, ['a'], ctx).proxyJump).toEqual([{ host: 'bastion' }]);
  });

  it('warns that ProxyCommand is unsupported, and lets it shadow a later ProxyJump as ssh does', () => {
    const text = 'Host a\n  ProxyCommand ssh -W %h:%p gw\nHost *\n  ProxyJump bastion\nHost b\n  ProxyCommand none\n';
    const c = parseSshConfig(text, F);
    expect(c.warnings).toEqual([`${F}:2: ProxyCommand is not supported (use ProxyJump); hosts it applies to are reached directly`]);
    expect(hostSettings(c, ['a'], ctx).proxyJump).toEqual([]);
    expect(hostSettings(c, ['b'], ctx).proxyJump).toEqual([{ host: 'bastion' }]);
  });
});

describe('Include', () => {
  const files: Record<string, string> = {
    'robots.conf': 'User robot\nHost ida\n  Port 2201\nHost *\n  IdentityFile ~/.ssh/robots\n',
    'common.conf': 'ConnectTimeout 7\nHost gw\n  User gate\n',
    'loop.conf': 'Include loop.conf\nServerAliveInterval 9\n',
  };
  const read = (pattern: string) => (files[pattern] === undefined ? [] : [{ file: `/inc/${pattern}`, text: files[pattern]! }]);

  it('reads a top-level Include as if inline, in place', () => {
    const c = parseSshConfig('User first\nInclude common.conf missing.conf\nHost *\n  ConnectTimeout 1\n', F, read);
    expect(c.warnings).toEqual([]);
    expect(c.blocks.map((b) => [b.kind, b.patterns, b.file, b.line])).toEqual([
      ['global', [], F, 1],
      ['global', [], '/inc/common.conf', 1],
      ['host', ['gw'], '/inc/common.conf', 2],
      ['host', ['*'], F, 3],
    ]);
    expect(hostSettings(c, ['gw'], ctx)).toMatchObject({ user: 'first', connectTimeoutSeconds: 7 });
  });

  it('applies an Include inside a Host block only under that block', () => {
    const text = 'Host robot-* ida\n  Include robots.conf\n  Port 2200\nHost *\n  User op2\n  IdentityFile ~/.ssh/default\n';
    const c = parseSshConfig(text, F, read);
    expect(c.blocks.map((b) => [b.kind, b.patterns, b.file, b.line, b.within?.line])).toEqual([
      ['host', ['robot-*', 'ida'], F, 1, undefined],
      ['host', ['robot-*', 'ida'], '/inc/robots.conf', 1, undefined], // leading entries inherit the condition
      ['host', ['ida'], '/inc/robots.conf', 2, 1],
      ['host', ['*'], '/inc/robots.conf', 4, 1],
      ['host', ['robot-*', 'ida'], F, 3, undefined], // entries after the Include are still under Host robot-*
      ['host', ['*'], F, 4, undefined],
    ]);
    expect(hostSettings(c, ['robot-1'], ctx)).toMatchObject({
      user: 'robot',
      port: 2200,
      identityFiles: ['/home/op/.ssh/robots', '/home/op/.ssh/default'],
    });
    expect(hostSettings(c, ['ida'], ctx)).toMatchObject({ user: 'robot', port: 2201 });
    // The included `Host *` must not leak to hosts outside the enclosing block.
    expect(hostSettings(c, ['laptop'], ctx)).toEqual({ user: 'op2', identityFiles: ['/home/op/.ssh/default'], proxyJump: [] });
  });

  it('applies nothing from an Include under a Match that is never applied', () => {
    const c = parseSshConfig('Match exec true\n  Include robots.conf\n', F, read);
    expect(c.warnings).toEqual([`${F}:1: Match exec is not supported; this block is never applied`]);
    expect(hostSettings(c, ['ida'], ctx)).toEqual({ identityFiles: [], proxyJump: [] });
  });

  it('stops include loops at depth 16 with a warning', () => {
    const c = parseSshConfig('Include loop.conf\n', F, read);
    expect(c.warnings).toEqual(['/inc/loop.conf:1: Include nested deeper than 16 levels (a loop?); ignored']);
    expect(c.blocks).toHaveLength(16);
    expect(hostSettings(c, ['a'], ctx).serverAliveIntervalSeconds).toBe(9);
  });

  it('ignores Include with a warning when no reader is given', () => {
    const c = parseSshConfig('Host a\n  Include robots.conf\n  User me\n', F);
    expect(c.warnings).toEqual([`${F}:2: Include is not followed here; ignored`]);
    expect(hostSettings(c, ['a'], ctx).user).toBe('me');
  });
});

describe('loadSshConfig', () => {
  let home = '';
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  it('gives an empty config when ~/.ssh/config is missing', () => {
    home = mkdtempSync(join(tmpdir(), 'sshconfig-'));
    expect(loadSshConfig(home)).toEqual({ blocks: [], warnings: [] });
  });

  it('reads the config and globbed Includes in sorted order, relative to ~/.ssh', () => {
    home = mkdtempSync(join(tmpdir(), 'sshconfig-'));
    const ssh = join(home, '.ssh');
    mkdirSync(join(ssh, 'conf.d', 'sub.conf'), { recursive: true }); // a directory: skipped
    writeFileSync(join(ssh, 'config'), 'Include conf.d/*.conf ~/extra nothing/*.conf\nHost *\n  User last\n');
    writeFileSync(join(ssh, 'conf.d', '20-b.conf'), 'Host ida\n  User b\n  Port 2020\n');
    writeFileSync(join(ssh, 'conf.d', '10-a.conf'), 'Host ida\n  User a\n');
    writeFileSync(join(ssh, 'conf.d', '.hidden.conf'), 'Host ida\n  User hidden\n');
    writeFileSync(join(ssh, 'conf.d', 'notes.txt'), 'Host ida\n  User txt\n');
    writeFileSync(join(home, 'extra'), 'Host *\n  IdentityFile ~/.ssh/%h\n');
    const c = loadSshConfig(home);
    expect(c.warnings).toEqual([]);
    expect(c.blocks.map((b) => b.file)).toEqual([
      join(ssh, 'conf.d', '10-a.conf'),
      join(ssh, 'conf.d', '20-b.conf'),
      join(home, 'extra'),
      join(ssh, 'config'),
    ]);
    expect(hostSettings(c, ['ida'], { localUser: 'op', home })).toEqual({
      user: 'a',
      port: 2020,
      identityFiles: [join(home, '.ssh', 'ida')],
      proxyJump: [],
    });
    expect(hostSettings(c, ['bob'], { localUser: 'op', home }).user).toBe('last');
  });
});

describe('operatorSshLookup: what reaches the connection', () => {
  const config = parseSshConfig(
    [
      'Host gate',
      '  HostName 10.0.0.1',
      '  User jumper',
      '  ConnectTimeout 2',
      'Host Ida 10.88.0.13',
      '  ProxyJump gate,other@hop2:2222',
      '  IdentityFile ~/.ssh/robots',
      '  StrictHostKeyChecking yes',
      'Host *',
      '  ServerAliveInterval 15',
      '  ConnectTimeout 9',
    ].join('\n'),
    F,
  );
  const lookup = operatorSshLookup(config, ctx);

  it('matches a robot by name or address; hops get their own HostName, User, Port and timeouts', () => {
    const ida = lookup('Ida', '10.88.0.12');
    expect(ida).toEqual({
      ssh: {
        identityFiles: ['/home/op/.ssh/robots'],
        identitiesOnly: false,
        connectTimeoutSeconds: 9,
        keepaliveSeconds: 15,
        strictHostKeyChecking: 'yes',
        jumps: [
          {
            name: 'gate',
            host: '10.0.0.1',
            port: 22,
            user: 'jumper',
            identityFiles: [],
            identitiesOnly: false,
            connectTimeoutSeconds: 2,
            keepaliveSeconds: 15,
          },
          {
            name: 'hop2',
            host: 'hop2',
            port: 2222,
            user: 'other',
            identityFiles: [],
            identitiesOnly: false,
            connectTimeoutSeconds: 9,
            keepaliveSeconds: 15,
          },
        ],
      },
    });
    expect(lookup('Otto', '10.88.0.13').ssh?.jumps.map((j) => j.name)).toEqual(['gate', 'hop2']);
    expect(lookup('Emil', '10.88.0.14').ssh).toEqual({
      identityFiles: [],
      identitiesOnly: false,
      jumps: [],
      connectTimeoutSeconds: 9,
      keepaliveSeconds: 15,
    });
  });
});
