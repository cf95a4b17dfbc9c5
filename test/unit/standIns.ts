// Stand-in robots for orchestration tests: each robot a folder here, every command run by a real sh
// exactly as sshd would hand it over (RobotConnection.standIn). No ssh, no network.
import { afterAll } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecResult, StandIn } from '../../src/ssh/connection.js';

/** A robot that is a folder here: the command runs in sh with that folder as HOME. */
export function localRobot(home: string): StandIn {
  return (line, stdin, onStdout) =>
    new Promise<ExecResult>((resolve) => {
      const child = spawn('sh', ['-c', line], { env: { PATH: process.env.PATH ?? '', HOME: home } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        onStdout?.(stdout);
      });
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code: code ?? 255, stdout, stderr }));
      child.stdin.on('error', () => undefined); // a command that reads no stdin may end before it is written (EPIPE)
      child.stdin.end(stdin ?? '');
    });
}

/**
 * A scratch folder whose `operator` is HOME and `log` the run log for this test file (call it before
 * importing src/: the log path is read at import); both are given back when the file ends, because
 * the worker runs other test files next.
 */
export function scratchOperator(prefix: string): string {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const saved = { HOME: process.env.HOME, PROVISION_LOG_DIR: process.env.PROVISION_LOG_DIR };
  process.env.HOME = join(root, 'operator');
  process.env.PROVISION_LOG_DIR = join(root, 'log');
  afterAll(() => {
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    rmSync(root, { recursive: true, force: true });
  });
  return root;
}
