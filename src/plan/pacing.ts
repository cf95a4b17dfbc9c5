// Pure pacing of joins over a slow fleet: how many joins may be in flight at once, and how long a
// join that docker continues "in the background" is waited for. Times are passed in.

/**
 * Joins in flight at the start. Small, because every join costs the managers a certificate
 * signing and Raft writes, and on an overloaded fleet (the 2-core lab at 100+ robots) hundreds at
 * once only made every join slower until they timed out together.
 */
export const JOIN_WINDOW_START = 4;
/** Never more at once: the default number of SSH handshakes in flight, a load the lab's managers took at 50 robots. */
export const JOIN_WINDOW_MAX = 32;

/**
 * Slow start: each join that succeeds lets one more start (the window doubles per round of joins),
 * up to the cap; a failed or timed-out join halves it (at least 1), so an overloaded set of
 * managers gets fewer joins at once instead of more timeouts.
 */
export function nextJoinWindow(window: number, joined: boolean): number {
  return joined ? Math.min(JOIN_WINDOW_MAX, window + 1) : Math.max(1, Math.floor(window / 2));
}

/**
 * A join still pending is waited for as long as the fleet's joins make progress: it fails only when
 * no join of the fleet has finished for this long (the joins are stuck, not slow) ...
 */
export const PENDING_STALL_MS = 90_000;
/** ... or when it has waited this long in all (a bound on the whole run, whatever happens). */
export const PENDING_CAP_MS = 15 * 60_000;

export function pendingVerdict(now: number, since: number, lastFleetProgress: number) {
  if (now - since >= PENDING_CAP_MS) return 'too long';
  if (now - Math.max(since, lastFleetProgress) >= PENDING_STALL_MS) return 'stalled';
  return 'wait';
}

/** Run `work` over `items` with the window above, widened and narrowed as results come in; `work` reports success. */
export async function runPaced<T>(items: readonly T[], work: (item: T) => Promise<boolean>, start = JOIN_WINDOW_START): Promise<void> {
  let window = Math.max(1, start);
  let next = 0;
  let inFlight = 0;
  await new Promise<void>((done) => {
    const launch = () => {
      if (next >= items.length && inFlight === 0) return done();
      while (inFlight < window && next < items.length) {
        inFlight++;
        void work(items[next++]!)
          .catch(() => false)
          .then((ok) => {
            inFlight--;
            window = nextJoinWindow(window, ok);
            launch();
          });
      }
    };
    launch();
  });
}
