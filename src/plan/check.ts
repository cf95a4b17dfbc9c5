// provision check's decisions, pure: which task fetches from which, and what failed pairs say about
// whose network is broken (steps/check.ts runs it on the swarm).
import { probePlan, type PreflightReport, type Target } from './preflight.js';

export const PAYLOAD_BYTES = 65536;

export interface PairResult {
  from: string;
  to: string;
  small: number;
  big: number;
}
export type PairVerdict = 'passed' | 'no-connection' | 'stalled';

export const verdictOf = (p: PairResult): PairVerdict => (p.big >= PAYLOAD_BYTES ? 'passed' : p.small > 0 ? 'stalled' : 'no-connection');

/** Each task to its ring neighbour and one random other, as the preflight samples. */
export function fetchPlan(tasks: readonly Target[], random = Math.random): Map<string, Target[]> {
  const plan = new Map<string, Target[]>(tasks.map((t) => [t.name, []]));
  for (const p of probePlan(tasks, [], 1, random).peers) plan.get(p.from)?.push(p.to);
  return plan;
}

export interface PairJudgement {
  /** Robots whose every pair failed: their link is the broken one. */
  blamed: string[];
  /** robot → why it fails (blamed robots and both ends of failed pairs no blamed robot explains). */
  failures: Map<string, string>;
  /** robot → a failed pair it was in that another robot explains. */
  notes: Map<string, string>;
}

/** The cause of a pair's failure, and its fix: said once for all the pairs that share it. */
const cause = (p: PairResult, mtu: number, fix: string) =>
  verdictOf(p) === 'stalled'
    ? `the small request passed, the ${PAYLOAD_BYTES / 1024} KiB transfer stalled after the first bytes — a path-MTU black hole: the overlay's packets (MTU ${mtu} + 50) do not pass. ${fix}`
    : 'no TCP connection over the overlay — UDP 4789 (VXLAN) or 7946 (gossip) blocked between them';
const pairText = (p: PairResult) => `${p.from} → ${p.to}${verdictOf(p) === 'stalled' ? ` (${p.big} of ${PAYLOAD_BYTES} bytes)` : ''}`;

/** "A → B (0 of 65536 bytes), C → A: the small request passed …" per cause. */
function describeAll(pairs: readonly PairResult[], mtu: number, fix: string): string {
  const byCause = new Map<string, PairResult[]>();
  for (const p of pairs) byCause.set(cause(p, mtu, fix), [...(byCause.get(cause(p, mtu, fix)) ?? []), p]);
  return [...byCause].map(([why, ps]) => `${ps.map(pairText).join(', ')}: ${why}`).join('; ');
}

/**
 * Whose link broke a failed pair: a robot all of whose pairs failed; then, among the pairs that leaves
 * unexplained, a robot all of whose (two or more) fetches failed — one whose own link has a lower MTU
 * sends fine (its kernel fragments) and receives nothing. A pair no one explains fails both ends.
 */
export function judgePairs(results: readonly PairResult[], mtu: number, mtuFix: string): PairJudgement {
  const bad = (p: PairResult) => verdictOf(p) !== 'passed';
  const robots = [...new Set(results.flatMap((p) => [p.from, p.to]))];
  const all = (pairs: PairResult[]) => pairs.length > 0 && pairs.every(bad);
  const blamed = robots.filter((r) => all(results.filter((p) => p.from === r || p.to === r)));
  const rest = results.filter((p) => !blamed.includes(p.from) && !blamed.includes(p.to));
  const fetches = (r: string) => rest.filter((p) => p.from === r);
  const oneWay = robots.filter((r) => !blamed.includes(r) && fetches(r).length >= 2 && all(fetches(r)));
  const culprit = [...blamed, ...oneWay];
  const failing = new Map<string, PairResult[]>();
  const noted = new Map<string, PairResult[]>();
  const add = (into: Map<string, PairResult[]>, robot: string, p: PairResult) => into.set(robot, [...(into.get(robot) ?? []), p]);
  for (const p of results.filter(bad)) {
    const ends = [p.from, p.to];
    const culprits = ends.filter((r) => culprit.includes(r));
    for (const r of culprits.length ? culprits : ends) add(failing, r, p);
    for (const r of ends.filter((x) => culprits.length && !culprits.includes(x))) add(noted, r, p);
  }
  const texts = (m: Map<string, PairResult[]>, suffix: (ps: PairResult[]) => string) =>
    new Map([...m].map(([r, ps]) => [r, describeAll(ps, mtu, mtuFix) + suffix(ps)]));
  const whose = (ps: PairResult[]) =>
    ` (${[...new Set(ps.flatMap((p) => [p.from, p.to]).filter((r) => culprit.includes(r)))].join(', ')}'s link)`;
  return { blamed: culprit, failures: texts(failing, () => ''), notes: texts(noted, whose) };
}

export interface CheckSummary {
  robots: number;
  ranTask: number;
  pairs: number;
  pairsPassed: number;
  mtu: number;
  movedInS: number | null;
  spread: { replicas: number; nodes: number } | null;
  constraint: { label: string; tasks: number; allMatch: boolean } | null;
  failed: boolean;
}

export function summaryText(s: CheckSummary): string {
  const parts = [
    `${s.ranTask}/${s.robots} robots ran a task`,
    `${s.pairsPassed}/${s.pairs} overlay pairs passed ${PAYLOAD_BYTES / 1024} KiB at MTU ${s.mtu}`,
    s.movedInS === null ? 'no task moved' : `a task moved in ${s.movedInS.toFixed(1)} s`,
    s.spread ? `${s.spread.replicas} replicas on ${s.spread.nodes} nodes` : 'replicas not spread',
    ...(s.constraint ? [`${s.constraint.tasks} tasks ${s.constraint.allMatch ? 'only' : 'NOT only'} on ${s.constraint.label} nodes`] : []),
  ];
  return `${s.failed ? 'swarm check failed' : 'swarm works'}: ${parts.join(', ')}`;
}

export interface CheckReport {
  preflight: PreflightReport | null;
  summary: CheckSummary | null;
  pairs: (PairResult & { verdict: string })[];
  notes: string[];
  /** A proof that failed without a robot to blame (the task did not move …): exit 1 all the same. */
  failed: boolean;
}
