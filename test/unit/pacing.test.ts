import { describe, expect, it } from '@jest/globals';
import {
  JOIN_WINDOW_MAX,
  JOIN_WINDOW_START,
  PENDING_CAP_MS,
  PENDING_STALL_MS,
  goneManagers,
  joinFailure,
  joinOrder,
  nextJoinWindow,
  pendingVerdict,
  runPaced,
  swarmCount,
  swarmProgressed,
} from '../../src/plan/pacing.js';
import { DOCKER_SAYS } from './swarmSim.js';

describe('join window', () => {
  it('widens by one per success (doubling per round) up to the cap, halves on a failure, never below 1', () => {
    let w = JOIN_WINDOW_START;
    const seen: number[] = [];
    for (let round = 0; round < 6; round++) {
      const size = w;
      for (let i = 0; i < size; i++) w = nextJoinWindow(w, true);
      seen.push(w);
    }
    expect(seen).toEqual([8, 16, 32, 32, 32, 32].map((n) => Math.min(n, JOIN_WINDOW_MAX)));
    expect(nextJoinWindow(32, false)).toBe(16);
    expect(nextJoinWindow(3, false)).toBe(1);
    expect(nextJoinWindow(1, false)).toBe(1);
  });
});

describe('waiting for a join that goes on in the background', () => {
  const t0 = 1_000_000;
  it('waits while the fleet makes progress, fails when nothing finished for the stall time or at the cap', () => {
    expect(pendingVerdict(t0 + PENDING_STALL_MS - 1, t0, 0)).toBe('wait');
    expect(pendingVerdict(t0 + PENDING_STALL_MS, t0, 0)).toBe('stalled');
    // Another join finished a minute ago: a 2-minute wait goes on.
    expect(pendingVerdict(t0 + 120_000, t0, t0 + 60_000)).toBe('wait');
    expect(pendingVerdict(t0 + PENDING_CAP_MS, t0, t0 + PENDING_CAP_MS - 1)).toBe('too long');
    // The stall is 3 minutes: a loaded lab at 100 went 90 s without a finished join and still formed.
    expect(PENDING_STALL_MS).toBe(180_000);
    expect(pendingVerdict(t0 + 100, t0, 0, { stallMs: 100, capMs: 1000 })).toBe('stalled');
  });

  it('progress is more nodes, or more of them ready, than the best seen (not a node going down and up again)', () => {
    const nodes = (...states: string[]) => states.map((state) => ({ state }));
    const best = swarmCount(nodes('ready', 'ready', 'down'));
    expect(best).toEqual({ nodes: 3, ready: 2 });
    expect(swarmProgressed(best, swarmCount(nodes('ready', 'ready', 'down', 'unknown')))).toBe(true); // a node came in
    expect(swarmProgressed(best, swarmCount(nodes('ready', 'ready', 'ready')))).toBe(true); // one came up
    expect(swarmProgressed(best, swarmCount(nodes('ready', 'ready', 'down')))).toBe(false);
    expect(swarmProgressed(best, swarmCount(nodes('ready', 'down', 'down')))).toBe(false);
  });
});

describe('a failed join: sent again, or failed', () => {
  it("a loaded or electing swarm's answers are passing (docker's words, and the SSH command's own timeout)", () => {
    for (const m of [DOCKER_SAYS.deadline, DOCKER_SAYS.joinTimeout, DOCKER_SAYS.noLeader, DOCKER_SAYS.lostLeader, DOCKER_SAYS.unavailable])
      expect([m, joinFailure(m)]).toEqual([m, 'passing']);
    expect(joinFailure('joining as worker failed (exit -1): remote command timed out after 90 s')).toBe('passing');
    expect(joinFailure('Error response from daemon: rpc error: code = Unknown desc = raft: no elected cluster leader')).toBe('passing');
    expect(joinFailure('the Docker engine gave no answer to the join')).toBe('passing');
  });

  it('a refusal fails at once, also when it comes wrapped in a passing code; an unknown error is a refusal', () => {
    for (const m of [DOCKER_SAYS.badToken, DOCKER_SAYS.x509]) expect([m, joinFailure(m)]).toEqual([m, 'refused']);
    expect(joinFailure('Error response from daemon: remote CA does not match fingerprint. Expected: 1234')).toBe('refused');
    expect(joinFailure('Error response from daemon: This node is already part of a swarm.')).toBe('refused');
    expect(joinFailure('no ~/swarm_tokens/worker_token on this robot')).toBe('refused');
    expect(joinFailure('the connection to the robot was lost')).toBe('refused');
    expect(joinFailure('something nobody has seen')).toBe('refused');
  });
});

describe("a manager that is gone is not a loaded swarm (docker's words from the lab: lab.sh dockerd NAME stop)", () => {
  const refused = DOCKER_SAYS.dialRefused('10.88.0.11:2377');
  it('every manager tried refused the connection (or had no route): gone, failed at once', () => {
    expect(joinFailure(refused)).toBe('gone');
    expect(joinFailure([refused, DOCKER_SAYS.dialRefused('10.88.0.12:2377')].join('\n'))).toBe('gone');
    const noRoute =
      'Error response from daemon: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing dial tcp 10.88.0.13:2377: connect: no route to host"';
    expect(joinFailure(noRoute)).toBe('gone');
    // As RemoteCommandError words it: the last lines joined with " | ".
    expect(joinFailure(`joining as worker failed (exit 1): ${refused} | ${refused}`)).toBe('gone');
  });

  it('one manager gone and another electing or loaded: passing (the next join tries the gone one last)', () => {
    expect(joinFailure(`${refused}\n${DOCKER_SAYS.noLeader}`)).toBe('passing');
    expect(joinFailure(`${DOCKER_SAYS.deadline}\n${refused}`)).toBe('passing');
    expect(joinFailure(DOCKER_SAYS.unavailable)).toBe('passing'); // i/o timeout: a loaded or lossy network, not a closed port
    expect(joinFailure(`${refused}\n${DOCKER_SAYS.badToken}`)).toBe('refused');
  });

  it("the gone managers' addresses are read from docker's dial errors and tried last", () => {
    expect(goneManagers(`${refused}\n${DOCKER_SAYS.noLeader}\n${DOCKER_SAYS.unavailable}`)).toEqual(['10.88.0.11:2377']);
    expect(goneManagers(DOCKER_SAYS.deadline)).toEqual([]);
    expect(joinOrder(['a:2377', 'b:2377', 'c:2377'], new Set(['a:2377']))).toEqual(['b:2377', 'c:2377', 'a:2377']);
    expect(joinOrder(['a:2377', 'b:2377'], new Set())).toEqual(['a:2377', 'b:2377']);
  });
});

describe('runPaced', () => {
  /** Stand-in joins: each resolves on the next tick with the given result; records the most in flight. */
  async function run(n: number, result: (i: number) => boolean) {
    let inFlight = 0;
    let most = 0;
    const order: number[] = [];
    const items = Array.from({ length: n }, (_, i) => i);
    await runPaced(items, async (i) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
      order.push(i);
      return result(i);
    });
    return { most, order };
  }

  it('starts small and widens while joins succeed, never past the cap; every item runs once', async () => {
    const { most, order } = await run(200, () => true);
    expect(most).toBe(JOIN_WINDOW_MAX);
    expect(order.sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  it('stays narrow while joins fail', async () => {
    const { most, order } = await run(40, () => false);
    expect(most).toBe(JOIN_WINDOW_START);
    expect(order).toHaveLength(40);
  });

  it('a join that throws counts as failed and does not stop the rest', async () => {
    const seen: number[] = [];
    let inFlight = 0;
    let most = 0;
    const items = Array.from({ length: 12 }, (_, i) => i);
    await runPaced(
      items,
      async (i) => {
        seen.push(i);
        most = Math.max(most, ++inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        throw new Error(`boom ${i}`); // every join throws: counted as failures, the window never widens
      },
      4,
    );
    expect(seen.sort((a, b) => a - b)).toEqual(items); // and every item still ran
    expect(most).toBeLessThanOrEqual(4);
  });

  it('an empty list ends at once', async () => {
    await expect(runPaced([], async () => true)).resolves.toBeUndefined();
  });
});
