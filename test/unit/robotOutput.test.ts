// Robots that misbehave: output without end is bounded per command (and fails that robot with its head
// and count), control characters from robots never reach the terminal or the log raw, the log is capped.
import { describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BoundedOutput, OUTPUT_LIMIT_BYTES } from '../../src/ssh/boundedOutput.js';
import { RobotConnection } from '../../src/ssh/connection.js';
import { OUTPUT_MARK } from '../../src/remote/shell.js';
import { SSH_FILES_OUTPUT_LIMIT, gatherSshCommand } from '../../src/remote/keysScript.js';
import { escapeControls, printable, printableJson, registerSecret as registerPlainSecret } from '../../src/log.js';
import { renderOutcomes } from '../../src/ui/report.js';
import { painter } from '../../src/ui/terminal.js';

const MiB = 1024 * 1024;

describe('BoundedOutput', () => {
  it('keeps up to its bound, counts every byte, and says when it is over', () => {
    const out = new BoundedOutput('stdout', 10);
    expect(out.push(Buffer.from('12345'))).toBe(true);
    expect(out.push(Buffer.from('67890'))).toBe(true); // exactly at the bound: not over
    expect(out.push(Buffer.from('abc'))).toBe(false);
    expect(out.push(Buffer.alloc(1000))).toBe(false);
    expect(out.text()).toBe('1234567890');
    expect(out.total).toBe(1013);
    expect(out.over).toBe(true);
  });

  it('holds at most the bound in memory, however much comes', () => {
    const out = new BoundedOutput('stderr');
    const chunk = Buffer.alloc(64 * 1024, 'y');
    for (let i = 0; i < 64; i++) out.push(chunk); // 4 MiB
    expect(Buffer.byteLength(out.text())).toBe(OUTPUT_LIMIT_BYTES);
    expect(out.total).toBe(4 * MiB);
  });
});

const target = { name: 'Ida', host: '10.0.0.2', port: 22, username: 'ida' };
const answering = (stdout: string, stderr = '') =>
  RobotConnection.standIn(target, async () => ({ code: 0, stdout: `${OUTPUT_MARK}\n${stdout}`, stderr: `${OUTPUT_MARK}\n${stderr}` }));

describe('a command that prints without end', () => {
  it("fails with how much came and its first bytes, escaped and redacted, naming the login shell when it came before /bin/sh's mark", async () => {
    const flood = `\x1b]0;owned\x07SWMTKN-1-abcdefghijklmnopqrstuvwxyz0123456789 ${'y\n'.repeat(MiB)}`;
    const conn = RobotConnection.standIn(target, async () => ({ code: 0, stdout: flood, stderr: '' }));
    const err = (await conn.exec('true').catch((e: Error) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(
      /^the robot's login shell \(a start-up file such as ~\/\.bashrc\) printed more than 1 MiB on stdout: \d+ bytes/,
    );
    expect(err.message).toContain(`${Buffer.byteLength(flood)} bytes had arrived`);
    expect(err.message).toContain('it began with "\\u001b]0;owned\\u0007SWMTKN-1-<redacted> y\\ny\\n');
    expect(err.message).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/); // eslint-disable-line no-control-regex
  });

  it('names the command when it came after the mark, on stderr too; under the bound nothing changes', async () => {
    await expect(answering('x'.repeat(MiB + 1)).exec('cat big')).rejects.toThrow(/^the command printed more than 1 MiB on stdout/);
    await expect(answering('', 'e'.repeat(2 * MiB)).exec('cat big')).rejects.toThrow(/^the command printed more than 1 MiB on stderr/);
    const fine = await answering('x'.repeat(MiB - OUTPUT_MARK.length - 1)).exec('cat');
    expect(fine.stdout).toHaveLength(MiB - OUTPUT_MARK.length - 1);
  });

  it("a read of the user's ~/.ssh files may print more: their whole known_hosts; past its own bound it fails too", async () => {
    const ssh = gatherSshCommand('ida@Ida', true);
    const big = answering('k'.repeat(40 * MiB));
    expect((await big.exec(ssh)).stdout).toHaveLength(40 * MiB);
    await expect(big.exec('cat big')).rejects.toThrow(/printed more than 1 MiB on stdout/);
    await expect(answering('k'.repeat(SSH_FILES_OUTPUT_LIMIT + 1)).exec(ssh)).rejects.toThrow(/printed more than 64 MiB on stdout/);
  });
});

describe('control characters from robots', () => {
  it('are escaped: C0 but newline and tab, DEL, C1, bidirectional overrides; other text stays', () => {
    expect(escapeControls('\x1b[31mX\x1b[0m')).toBe('\\x1b[31mX\\x1b[0m');
    expect(escapeControls('a\rb\x07c\x7fd\x9be\u202ef')).toBe('a\\rb\\x07c\\x7fd\\x9be\\u202ef');
    expect(escapeControls('line 1\n\tline 2 — Müller 🤖')).toBe('line 1\n\tline 2 — Müller 🤖');
    expect(printable('token SWMTKN-1-abcdefghijklmnopqrstuvwxyz0123456789\x1b[2J')).toBe('token SWMTKN-1-<redacted>\\x1b[2J');
  });

  it('JSON output escapes DEL, C1 and the overrides as \\u and stays the same JSON', () => {
    const value = { hostname: 'a\x1b[31m\x7f\x9b\u202eb' };
    const json = printableJson(JSON.stringify(value));
    expect(json).not.toMatch(/[\x00-\x1f\x7f-\x9f\u202e]/); // eslint-disable-line no-control-regex
    expect(JSON.parse(json)).toEqual(value);
  });

  it("in the report: a robot's text is escaped, provision's own colour stays", () => {
    const run = {
      outcomes: [
        { robot: 'Ida', ip: '10.0.0.2', status: 'failed' as const, details: ['docker said \x1b[31mno\x1b]0;title\x07'], notes: [] },
      ],
      dryRun: false,
      notes: ['hostname \x1b[2J'],
      exitCode: 1,
    };
    const text = renderOutcomes('provision swarm', run, () => '', false, painter(true));
    expect(text).toContain('\x1b[31mfailed\x1b[39m'); // the status, painted by provision
    expect(text).toContain('docker said \\x1b[31mno\\x1b]0;title\\x07');
    expect(text).toContain('note: hostname \\x1b[2J');
    expect(text.replace(/\x1b\[(31|39|33|32|2|22)m/g, '')).not.toContain('\x1b'); // eslint-disable-line no-control-regex
  });
});

describe('a secret cut in two', () => {
  it('is redacted before a long message or a flood is cut, so no head of it is shown', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'provision-log-'));
    process.env.PROVISION_LOG_DIR = dir;
    const { log, logFile, registerSecret, LOG_MESSAGE_MAX_CHARS } = await import(`../../src/log.js?cut${Date.now()}`);
    const password = 'hunter2-correct-horse';
    registerSecret(password);
    registerPlainSecret(password); // the instance BoundedOutput uses
    // The cut falls after "hunter2-".
    log('Ida', `${'x'.repeat(LOG_MESSAGE_MAX_CHARS - 8)}${password} tail`);
    expect(readFileSync(logFile, 'utf8').includes('hunter2')).toBe(false); // not even its head "hunter2-"
    const out = new BoundedOutput('stderr', 100);
    out.push(Buffer.from(`${'y'.repeat(110)}${password}${'z'.repeat(200)}`));
    expect(out.floodError('the command').message).not.toContain('hunter2');
  });
});

describe('the log', () => {
  it('is escaped, cut per message, and rotated so that it holds the newest lines within twice its cap', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'provision-log-'));
    process.env.PROVISION_LOG_DIR = dir;
    const { log, logFile, LOG_MAX_BYTES, LOG_MESSAGE_MAX_CHARS } = await import(`../../src/log.js?${Date.now()}`);
    expect(logFile).toBe(join(dir, 'provision.log'));
    log('Ida', 'first \x1b[31mred\x1b[0m');
    expect(readFileSync(logFile, 'utf8')).toContain('[Ida] first \\x1b[31mred\\x1b[0m');
    const messages = Math.ceil((2.5 * LOG_MAX_BYTES) / LOG_MESSAGE_MAX_CHARS);
    for (let i = 0; i < messages; i++) log('Ida', `message ${i} ${'x'.repeat(LOG_MESSAGE_MAX_CHARS * 2)}`);
    log('Ida', 'the newest');
    const current = readFileSync(logFile, 'utf8');
    expect(current).toContain('the newest');
    expect(current).toContain('more characters not logged');
    expect(statSync(logFile).size).toBeLessThanOrEqual(LOG_MAX_BYTES);
    expect(statSync(`${logFile}.1`).size).toBeLessThanOrEqual(LOG_MAX_BYTES);
    expect(readFileSync(`${logFile}.1`, 'utf8')).not.toContain('first'); // the oldest went
    expect(existsSync(`${logFile}.2`)).toBe(false);
  });
});
