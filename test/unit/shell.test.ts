import { describe, expect, it } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { PART_MARK, andThen, batch, commandLine, quote, scriptWithArgs, splitBatch } from '../../src/remote/shell.js';
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

describe('batch: several commands in one remote call, each answered apart', () => {
  const run = (line: string, input: string) => {
    const r = spawnSync('sh', ['-c', line], { input, encoding: 'utf8' });
    return { code: r.status ?? 255, stdout: r.stdout, stderr: r.stderr };
  };
  const sudoPart = { line: scriptWithArgs('IFS= read -r pw; echo "got $pw"'), readsSudoPassword: true };

  it('each part its output and exit status; the sudo password only to the part that reads it, the rest of stdin to the others', () => {
    const calls = batch([scriptWithArgs('printf "no newline"; exit 3'), sudoPart, scriptWithArgs('cat; echo oops >&2')]);
    const [a, b, c] = splitBatch(run(calls.line, 'secret\npayload\n'), calls.parts);
    expect(a).toEqual({ code: 3, stdout: 'no newline', stderr: '' });
    expect(b).toEqual({ code: 0, stdout: 'got secret\n', stderr: '' });
    expect(c).toEqual({ code: 0, stdout: 'payload\n', stderr: 'oops\n' });
    expect(calls.readsSudoPassword).toBe(true);
  });

  it('stopOnFailure: the parts after a failed one do not run, and say so', () => {
    const calls = batch([scriptWithArgs('echo one'), scriptWithArgs('exit 4'), scriptWithArgs('echo never')], { stopOnFailure: true });
    const answers = splitBatch(run(calls.line, ''), calls.parts);
    expect(answers.map((x) => x.code)).toEqual([0, 4, 255]);
    expect(answers[2]?.stderr).toMatch(/ended before this command ran/);
  });

  it('after the run lock (andThen): nothing runs when the first fails', () => {
    const calls = batch([scriptWithArgs('echo ran')]);
    const r = run(andThen('false', calls).line, '');
    expect(r.code).toBe(1);
    expect(splitBatch(r, calls.parts)[0]?.code).toBe(255);
  });

  it('a call that ended before its parts (a login shell that ran nothing) says why on each part not reached', () => {
    const calls = batch([scriptWithArgs('echo one'), scriptWithArgs('echo two')]);
    const said = "the robot's login shell did not run the command (/bin/sh and base64 are needed)";
    for (const answer of splitBatch({ code: 127, stdout: '', stderr: said }, calls.parts))
      expect(answer).toEqual({ code: 255, stdout: '', stderr: `${said}\nthe remote call ended before this command ran (exit 127)` });
    // A part that ran keeps its own stderr; the one after a killed shell gets what came after the last mark.
    const killed = splitBatch({ code: 137, stdout: `one\n${PART_MARK} 0\n`, stderr: `\n${PART_MARK} 0\nKilled\n` }, calls.parts);
    expect(killed.map((a) => a.stderr)).toEqual(['', 'Killed\nthe remote call ended before this command ran (exit 137)']);
  });

  it("a part's own output limit still holds", () => {
    const calls = batch([{ line: scriptWithArgs('echo 0123456789'), readsSudoPassword: false, outputLimit: 5 }]);
    expect(splitBatch(run(calls.line, ''), calls.parts)[0]).toMatchObject({ code: 1, stderr: expect.stringMatching(/more than 5 bytes/) });
  });
});
