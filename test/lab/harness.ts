// The e2e harness: a real lab of robots (scripts/lab.sh), the real CLI (dist/cli.js) run as a
// separate process with its own operator HOME, and a capture of every byte it prints so that
// the suite can prove no secret ever shows up.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';

export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const LAB = join(ROOT, 'scripts', 'lab.sh');
export const LAB_PASSWORD = process.env.LAB_PASSWORD ?? 'lab-secret-pw';
export const LAB_DIR = process.env.LAB_DIR ?? '/var/tmp/provision-lab';
export const BRIDGE = process.env.LAB_BRIDGE ?? 'provbr0';

/** Everything the CLI printed during this test process, for the secrets check. */
export const captured: string[] = [];

export function lab(...args: string[]): string {
  return execFileSync('bash', [LAB, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LAB_PASSWORD },
  });
}

/** Run a command as the robot's user inside the robot; returns stdout (throws on failure). */
export function onRobot(robot: string, command: string): string {
  return lab('exec', robot, 'sh', '-c', command);
}

export function labUp(count: number, env: Record<string, string> = {}): string {
  execFileSync('bash', [LAB, 'up', String(count)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LAB_PASSWORD, ...env },
  });
  return join(LAB_DIR, 'inventory.yaml');
}

export function labDown(): void {
  execFileSync('bash', [LAB, 'down'], { stdio: 'ignore' });
}

export interface Operator {
  home: string;
  logDir: string;
}

export function newOperator(): Operator {
  const home = mkdtempSync(join(tmpdir(), 'provision-operator-'));
  return { home, logDir: join(home, 'logs') };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The CLI's environment: the operator's HOME and log, the lab's route guard and password. */
function cliEnv(op: Operator, env: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    HOME: op.home,
    PROVISION_LOG_DIR: op.logDir,
    PROVISION_ROUTE_DEV: BRIDGE, // the CLI refuses any robot not routed via the lab bridge
    PROVISION_PASSWORD: LAB_PASSWORD,
    ...env,
  };
}

/**
 * Start the CLI as the operator would, from a laptop whose HOME is `op.home`, so that a test can act
 * while it runs; everything it prints is captured for the secrets check. Killed after 5 minutes.
 */
export function startProvision(
  op: Operator,
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<RunResult> } {
  const started = Date.now();
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'cli.js'), ...args], {
    env: cliEnv(op, env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<RunResult>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      captured.push(stdout, stderr);
      if (process.env.LAB_RUN_TIMES)
        appendFileSync(
          process.env.LAB_RUN_TIMES,
          `${new Date().toISOString()} ${args.join(' ')} code=${code} ms=${Date.now() - started}\n`,
        );
      resolve({ code: code ?? 99, stdout, stderr, ms: Date.now() - started });
    }),
  );
  return { child, done };
}

/** Run the CLI to its end. */
export function provision(op: Operator, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return startProvision(op, args, env).done;
}

/** One robot's rows of a report: its own line and the detail lines under it, as printed. */
export function reportRows(stdout: string, robot: string): string {
  const lines = stdout.split('\n');
  const at = lines.findIndex((l) => new RegExp(`^ {2}${robot}\\s`).test(l));
  if (at < 0) return '';
  const end = lines.findIndex((l, i) => i > at && !/^ {20,}\S/.test(l));
  return lines.slice(at, end < 0 ? undefined : end).join('\n');
}

/** Rewrite the lab's inventory with `edit` applied to its YAML document; returns the new path. */
export function editInventory(from: string, to: string, edit: (doc: ReturnType<typeof parseDocument>) => void): string {
  const doc = parseDocument(readFileSync(from, 'utf8'));
  edit(doc);
  writeFileSync(to, doc.toString());
  return to;
}

/** Every line of the operator's log and every captured output, for the secrets check. */
export function everythingPrinted(op: Operator): string {
  const log = join(op.logDir, 'provision.log');
  return captured.join('\n') + (existsSync(log) ? readFileSync(log, 'utf8') : '');
}

/** Fail if a join token, the password or a private key appears in anything provision printed or logged. */
export function assertNoSecrets(op: Operator, tokens: string[] = []): void {
  const text = everythingPrinted(op);
  const leaks = [
    /SWMTKN-1-[0-9a-z]{20,}/.test(text) ? 'a swarm join token' : '',
    text.includes(LAB_PASSWORD) ? "the robots' password" : '',
    /PRIVATE KEY-----/.test(text) ? 'a private key' : '',
    ...tokens.filter((t) => t && text.includes(t)).map(() => 'a token read from a robot'),
  ].filter(Boolean);
  if (leaks.length) throw new Error(`secret leaked into output or logs: ${leaks.join(', ')}`);
}

/** End of a lab suite: the secrets check over everything it captured, then the lab goes down whatever happened. */
export function finishLab(op: Operator | undefined, tokens: string[] = []): void {
  try {
    if (op) assertNoSecrets(op, tokens);
  } finally {
    labDown();
  }
}

/** SHA-256 of every file in a folder under the robot user's home, for byte-identity checks. */
export function fileHashes(robot: string, dir: string): string {
  return onRobot(
    robot,
    `cd && find ${dir} -type f -exec sha256sum {} + 2>/dev/null | sort -k2; stat -c '%n %a' ${dir} ${dir}/* 2>/dev/null`,
  );
}

/** Refuse to run when the lab bridge is not the route to the robots (network rule). */
export function assertLabRoute(ip: string): void {
  const route = execFileSync('ip', ['-o', 'route', 'get', ip], { encoding: 'utf8' });
  if (!new RegExp(`\\bdev ${BRIDGE}\\b`).test(route)) throw new Error(`${ip} is not routed via ${BRIDGE}: refusing to test`);
}

/** Poll `check` every `everyMs` until it holds; throws naming `what` after `timeoutMs`. */
export async function until(what: string, check: () => boolean, timeoutMs: number, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
