// Verifying the SSH mesh after `provision keys` (pure): which robot logs in to which, and whom a
// failed login blames. A ring (each robot to the next) shows every robot reaching one and reached by
// one at a cost of one login per robot; a failed edge A→B gets at most two more probes — B from a
// robot that reaches others, A to a robot that others reach — to tell "B refuses everyone" from
// "A reaches nobody" from "just this pair".

export interface Edge {
  from: string;
  to: string;
}
export interface Probe extends Edge {
  ok: boolean;
  reason: string;
}

const key = (e: Edge) => `${e.from}\u0000${e.to}`;

export function ringPlan(names: readonly string[]): Edge[] {
  if (names.length < 2) return [];
  return names.map((from, i) => ({ from, to: names[(i + 1) % names.length]! }));
}

/** The follow-up probes (see above) for the failed edges of `done`, none already made or planned. */
export function followUpPlan(names: readonly string[], done: readonly Probe[]): Edge[] {
  const goodSources = names.filter((n) => done.some((p) => p.ok && p.from === n));
  const goodTargets = names.filter((n) => done.some((p) => p.ok && p.to === n));
  const seen = new Set(done.map(key));
  const plan: Edge[] = [];
  const add = (e: Edge) => {
    seen.add(key(e));
    plan.push(e);
  };
  for (const { from: a, to: b } of done.filter((p) => !p.ok)) {
    const c = goodSources.find((n) => n !== a && n !== b && !seen.has(key({ from: n, to: b })));
    if (c) add({ from: c, to: b });
    const d = goodTargets.find((n) => n !== a && n !== b && !seen.has(key({ from: a, to: n })));
    if (d) add({ from: a, to: d });
  }
  return plan;
}

interface MeshVerdict {
  /** Robots that logged in to another by name and were logged in to by another. */
  verified: string[];
  /** Per robot to blame: why, in one line (the reason ssh gave, from the first failed probe). */
  blamed: Map<string, string>;
}

const list = (names: readonly string[]) => [...new Set(names)].join(', ');

/**
 * Whom the probes blame. A robot nobody could log in to is blamed as a target when that is shown:
 * a source that failed on it logs in elsewhere, or two sources failed on it. Likewise a robot that
 * could log in nowhere, as a source. A failed edge whose ends both work otherwise blames its source
 * (its view of the target: known_hosts, config); one that nothing can explain blames both ends.
 */
export function meshVerdict(names: readonly string[], probes: readonly Probe[]): MeshVerdict {
  const into = (n: string, ok: boolean) => probes.filter((p) => p.to === n && p.ok === ok);
  const out = (n: string, ok: boolean) => probes.filter((p) => p.from === n && p.ok === ok);
  const blamed = new Map<string, string[]>();
  const blame = (n: string, why: string) => blamed.set(n, [...(blamed.get(n) ?? []), why]);

  // All of a robot's probes at one end failed, and that is shown (as above).
  const failsAll = (atEnd: typeof into, otherEnd: (p: Probe) => string, fromOtherEnd: typeof into) =>
    new Set(
      names.filter((n) => {
        const failed = atEnd(n, false);
        if (!failed.length || atEnd(n, true).length) return false;
        return new Set(failed.map(otherEnd)).size >= 2 || failed.some((p) => fromOtherEnd(otherEnd(p), true).length > 0);
      }),
    );
  const refusesAll = failsAll(into, (p) => p.from, out);
  const reachesNone = failsAll(out, (p) => p.to, into);
  for (const n of refusesAll) {
    const failed = into(n, false);
    blame(n, `no robot could log in to it by name (ssh ${n} from ${list(failed.map((p) => p.from))}): ${failed[0]!.reason}`);
  }
  for (const n of reachesNone) {
    const failed = out(n, false);
    blame(n, `it could log in to no robot by name (ssh ${list(failed.map((p) => p.to))}): ${failed[0]!.reason}`);
  }
  for (const p of probes.filter((q) => !q.ok && !refusesAll.has(q.to) && !reachesNone.has(q.from))) {
    const explained = out(p.from, true).length > 0 && into(p.to, true).length > 0;
    blame(
      p.from,
      `ssh ${p.to} failed here${explained ? ` (${p.to} is reachable from others, and this robot reaches others)` : ''}: ${p.reason}`,
    );
    if (!explained) blame(p.to, `${p.from} could not log in to it by name (ssh ${p.to}): ${p.reason}`);
  }
  const verified = names.filter((n) => !blamed.has(n) && out(n, true).length > 0 && into(n, true).length > 0);
  return { verified, blamed: new Map([...blamed].map(([n, whys]) => [n, [...new Set(whys)].join('; ')])) };
}
