import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { commandLine, quote, scriptWithArgs } from '../../src/remote/shell.js';

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
