// Ctrl-C on the built modules (npm run build first; npm test does), in a process of its own: a real
// SIGINT, real timers. Waits end at once with Interrupted and leave nothing that holds the process;
// before a run it ends at once; a second Ctrl-C ends at once; a process something still holds is
// ended by force after the grace, and the log names what held it.
import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const DIST = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'dist');
const at = (file: string) => pathToFileURL(join(DIST, file)).href;

/** Run `body` (an ES module) and press Ctrl-C `presses` times once it printed "ready"; ms: from the last press to the end. */
function underCtrlC(body: string, presses = 1) {
  const dir = mkdtempSync(join(tmpdir(), 'provision-interrupt-'));
  const script = join(dir, 'run.mjs');
  writeFileSync(script, body);
  const child = spawn(process.execPath, [script], { env: { PATH: process.env.PATH ?? '', PROVISION_LOG_DIR: dir } });
  let stdout = '';
  let pressed = 0;
  return new Promise<{ code: number | null; stdout: string; ms: number; log: string }>((done) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (pressed || !stdout.includes('ready')) return;
      // A second press 100 ms later, as a person would (two signals at once arrive as one).
      for (let i = 0; i < presses; i++)
        setTimeout(() => {
          pressed = Date.now();
          child.kill('SIGINT');
        }, i * 100);
      pressed = Date.now();
    });
    child.on('close', (code) => {
      let log = '';
      try {
        log = readFileSync(join(dir, 'provision.log'), 'utf8');
      } catch {
        // no log written
      }
      done({ code, stdout, ms: Date.now() - pressed, log });
    });
  });
}

describe('Ctrl-C', () => {
  it('during a run: a pause, a retry between attempts and a poll all end with Interrupted, and nothing is left to hold the process', async () => {
    const r = await underCtrlC(`
      import { runStarted, pause } from '${at('interrupt.js')}';
      import { retry, pollUntil } from '${at('run/retry.js')}';
      runStarted();
      process.on('beforeExit', () => console.log('drained'));
      const waits = Promise.allSettled([
        pause(60_000),
        retry(() => Promise.reject(new Error('busy')), { baseMs: 30_000, retryIf: () => true }),
        pollUntil(async () => undefined, 30_000, 600_000),
      ]);
      console.log('ready');
      console.log((await waits).map((w) => w.status + ':' + w.reason?.name).join(' '));
    `);
    expect(r.stdout).toContain('rejected:Interrupted rejected:Interrupted rejected:Interrupted');
    expect(r.stdout).toContain('drained'); // the event loop emptied by itself
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(1000);
  });

  it('before a run starts: ends at once with 130', async () => {
    const r = await underCtrlC(`
      import '${at('interrupt.js')}';
      setTimeout(() => console.log('not interrupted'), 30_000);
      console.log('ready');
    `);
    expect(r.code).toBe(130);
    expect(r.ms).toBeLessThan(1000);
    expect(r.stdout).not.toContain('not interrupted');
  });

  it('a process still held after Ctrl-C is ended after the grace, the log naming what held it; a second Ctrl-C ends it at once', async () => {
    const held = `
      import { runStarted } from '${at('interrupt.js')}';
      runStarted();
      setInterval(() => undefined, 1000); // ignores the interruption
      console.log('ready');
    `;
    const once = await underCtrlC(held);
    expect(once.code).toBe(130);
    expect(once.ms).toBeGreaterThan(1500);
    expect(once.ms).toBeLessThan(2500);
    expect(once.log).toMatch(/still running 1800 ms after Ctrl-C, ended by force; held by: .*Timeout/);
    const twice = await underCtrlC(held, 2);
    expect(twice.code).toBe(130);
    expect(twice.ms).toBeLessThan(1000);
  });
});
