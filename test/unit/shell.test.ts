import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { commandLine, quote, scriptWithArgs } from '../../src/remote/shell.js';
import { script } from '../../src/remote/scripts.js';

const echoThroughShell = (line: string) => execFileSync('sh', ['-c', line], { encoding: 'utf8' });

describe('remote command quoting', () => {
  it('leaves plain words alone and quotes the rest', () => {
    expect(quote('docker')).toBe('docker');
    expect(quote('')).toBe("''");
    expect(quote('a b')).toBe("'a b'");
    expect(quote("it's")).toBe(`'it'\\''s'`);
  });

  it.each(['x;touch /tmp/p', '$(id)', '`id`', 'a\'b"c', '1.2.3.4 -oProxyCommand=x', 'new\nline', '*', '~'])(
    'a hostile value %j stays one literal argument',
    (hostile) => {
      expect(echoThroughShell(commandLine(['printf', '%s', hostile]))).toBe(hostile);
    },
  );

  it('passes values to fixed scripts as positional parameters', () => {
    const line = scriptWithArgs('printf "%s|%s" "$1" "$2"', ['a b', '$(echo no)']);
    expect(echoThroughShell(line)).toBe('a b|$(echo no)');
  });
});

describe('the remote scripts (src/remote/scripts)', () => {
  const dir = new URL('../../src/remote/scripts/', import.meta.url);
  const names = readdirSync(dir).map((f) => f.replace(/\.sh$/, ''));

  it.each(names)('%s.sh: documented at its top; loaded without those comments, once', (name) => {
    const file = readFileSync(new URL(`${name}.sh`, dir), 'utf8');
    const loaded = script(name);
    expect(file).toMatch(/^#/);
    expect(loaded).not.toMatch(/^#/);
    // A script that checks its paths carries in_home's definition ahead of its own text.
    const prelude = name !== 'in-home' && /\bin_home /.test(file) ? script('in-home') : '';
    expect(loaded.startsWith(prelude)).toBe(true);
    expect(file.endsWith(loaded.slice(prelude.length))).toBe(true);
    expect(script(name)).toBe(loaded);
  });
});
