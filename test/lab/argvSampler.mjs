// Reads the arguments of every process on this machine, every few ms, until its stdin closes; then prints what it
// found as one JSON line. The lab's robots share this machine's PID namespace (scripts/lab.sh unshares mount and
// UTS only), so it sees every robot's processes and the operator's provision alike (test/lab/argv.ts).
// It looks for swarm join tokens (SWMTKN-…, also inside the base64 a command line travels in to the login
// shell, src/remote/shell.ts), and for the witnesses named in argv[2] (JSON: name → regular expression), the
// processes that show it looked while the work ran. A token counts when its process is in another network
// namespace than this one (a robot) or descends from provision's dist/cli.js (the laptop); a token elsewhere
// on this shared machine (another checkout's tests) is reported apart, as `elsewhere`.
import { Buffer } from 'node:buffer';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const witnesses = Object.entries(JSON.parse(process.argv[2] ?? '{}')).map(([name, source]) => [name, new RegExp(source)]);
const tokenLike = /SWMTKN-[A-Za-z0-9-]*/g;
const hostNet = readlinkSync('/proc/self/ns/net');
const seen = new Set(); // argument vectors already looked at and found clean: each is read once, whatever its PID
const seenTokens = new Set(); // PID and argument vector of those holding a token: judged per process
const found = new Map(); // token → where: 'robot' | 'laptop' | 'elsewhere'
const witnessed = {};
let rounds = 0;
let open = true;
process.stdin.on('end', () => (open = false)).resume();

const argsOf = (pid) => readFileSync(`/proc/${pid}/cmdline`, 'latin1');

const parentOf = (pid) =>
  Number(
    readFileSync(`/proc/${pid}/stat`, 'latin1')
      .replace(/^.*\) \S+ /s, '')
      .split(' ')[0],
  );

/** Where a process is; a process that ended meanwhile counts as a robot's (the strict answer). */
function whereIs(pid) {
  try {
    if (readlinkSync(`/proc/${pid}/ns/net`) !== hostNet) return 'robot';
    for (let p = Number(pid); p > 1; p = parentOf(p)) if (/\bdist\/cli\.js\b/.test(argsOf(p))) return 'laptop';
    return 'elsewhere';
  } catch {
    return 'robot';
  }
}

function look(pid, raw) {
  const args = raw.replaceAll('\0', ' ').trim();
  for (const [name, re] of witnesses) if (!(name in witnessed) && re.test(args)) witnessed[name] = args.slice(0, 160);
  const decoded = [...args.matchAll(/echo ([A-Za-z0-9+/=]{16,}) \| base64 -d/g)].map((m) => Buffer.from(m[1], 'base64').toString('latin1'));
  const tokens = [args, ...decoded].flatMap((text) => text.match(tokenLike) ?? []);
  if (!tokens.length) return seen.add(raw);
  if (seenTokens.has(`${pid} ${raw}`)) return;
  seenTokens.add(`${pid} ${raw}`);
  const where = whereIs(pid);
  for (const t of tokens) if (found.get(t) !== 'robot' && found.get(t) !== 'laptop') found.set(t, where);
}

const started = performance.now();
while (open) {
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let raw;
    try {
      raw = argsOf(pid);
    } catch {
      continue; // ended meanwhile
    }
    if (raw && !seen.has(raw)) look(pid, raw);
  }
  if (++rounds === 1) process.stdout.write('sampling\n'); // test/lab/argv.ts waits for it
  await sleep(2);
}
const msPerRound = (performance.now() - started) / rounds;
const where = (w) => [...found].filter(([, x]) => x === w).map(([t]) => t);
console.log(
  JSON.stringify({
    rounds,
    msPerRound,
    distinct: seen.size,
    tokens: [...where('robot'), ...where('laptop')],
    elsewhere: where('elsewhere'),
    witnessed,
  }),
);
