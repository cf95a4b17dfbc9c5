// Every process's arguments on this machine, sampled while some work runs (test/lab/argvSampler.mjs, a child
// process: the test's own event loop is blocked by the harness's synchronous lab calls).
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_DIR, ROOT, onRobot } from './harness.js';

/** PIDs of `robot`'s processes whose arguments are exactly `argv` (the robots share this machine's PIDs). */
export function processesOn(robot: string, argv: readonly string[]): number[] {
  const net = (pid: string) => readlinkSync(`/proc/${pid}/ns/net`);
  const robotNet = net(readFileSync(join(LAB_DIR, robot, 'pid'), 'utf8').trim()); // the robot's anchor process
  const wanted = argv.map((a) => `${a}\0`).join('');
  return readdirSync('/proc')
    .filter((pid) => {
      try {
        return /^\d+$/.test(pid) && readFileSync(`/proc/${pid}/cmdline`, 'latin1') === wanted && net(pid) === robotNet;
      } catch {
        return false; // ended meanwhile
      }
    })
    .map(Number);
}

export interface ArgvSample {
  rounds: number;
  msPerRound: number;
  /** Distinct argument vectors read. */
  distinct: number;
  /** Join tokens seen in the arguments of a robot's process or of provision's (the laptop). */
  tokens: string[];
  /** Tokens seen only in other processes of this shared machine (not this lab's). */
  elsewhere: string[];
  /** For each witness, the first argument vector it matched. */
  witnessed: Record<string, string>;
}

/**
 * `work` run while every process's arguments are sampled every few ms. A canary first: a process on `robot`
 * with a token-like argument, which the sample must hold (it cannot pass by seeing nothing), besides the
 * witnesses (processes the work must have shown).
 */
export async function sampleArgv(
  robot: string,
  witnesses: Record<string, RegExp>,
  work: () => Promise<void> | void,
): Promise<ArgvSample & { canary: string }> {
  const sources = Object.fromEntries(Object.entries(witnesses).map(([name, re]) => [name, re.source]));
  const child = spawn(process.execPath, [join(ROOT, 'test', 'lab', 'argvSampler.mjs'), JSON.stringify(sources)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  const sampling = new Promise<void>((resolve) =>
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.startsWith('sampling\n')) resolve();
    }),
  );
  const ended = new Promise<number | null>((resolve) => child.on('close', resolve));
  const canary = `SWMTKN-1-canary${process.pid}x${Date.now()}`;
  try {
    await Promise.race([sampling, ended]);
    onRobot(robot, `sh -c 'sleep 0.2' canary ${canary}`);
    await work();
  } finally {
    child.stdin.end();
  }
  const code = await ended;
  if (code !== 0) throw new Error(`the argv sampler ended with ${code}: ${out}`);
  return { ...(JSON.parse(out.slice('sampling\n'.length)) as ArgvSample), canary };
}
