// The one retry loop: a piece of work tried again after a failure it may recover from (an election,
// a race with the swarm's own updates, a handshake refused under load), with backoff and jitter so
// that 300 robots retrying at once do not retry in step.
import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryPolicy {
  /** Give up after this many attempts (the first included)... */
  attempts?: number;
  /** ...or once this long has passed since the first attempt, whichever comes first. */
  withinMs?: number;
  /** The first wait; each next one doubles, up to maxMs. */
  baseMs: number;
  maxMs?: number;
  /** Spread each wait by up to ± this share of it (0 for a fixed pace). */
  jitter?: number;
  /** Whether this error is worth another attempt; any other is thrown at once. */
  retryIf: (err: unknown) => boolean;
  /** Told before each wait (for the log). */
  onRetry?: (err: unknown, attempt: number, waitMs: number) => void;
}

/** The wait before attempt `attempt + 1` (attempt counts from 1): pure, for tests. */
export function backoffMs(policy: Pick<RetryPolicy, 'baseMs' | 'maxMs' | 'jitter'>, attempt: number, random = Math.random): number {
  const plain = Math.min(policy.baseMs * 2 ** (attempt - 1), policy.maxMs ?? Infinity);
  const spread = policy.jitter ?? 0.2;
  return Math.max(0, Math.round(plain * (1 + spread * (2 * random() - 1))));
}

export async function retry<T>(work: (attempt: number) => Promise<T>, policy: RetryPolicy): Promise<T> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await work(attempt);
    } catch (err) {
      const wait = backoffMs(policy, attempt);
      const outOfAttempts = policy.attempts !== undefined && attempt >= policy.attempts;
      const outOfTime = policy.withinMs !== undefined && Date.now() + wait - started > policy.withinMs;
      if (outOfAttempts || outOfTime || !policy.retryIf(err)) throw err;
      policy.onRetry?.(err, attempt, wait);
      await sleep(wait);
    }
  }
}

/**
 * Ask `read` every `everyMs` until it gives an answer (anything but undefined); undefined after
 * `timeoutMs`. Errors of `read` go on up.
 */
export async function pollUntil<T>(read: () => Promise<T | undefined>, everyMs: number, timeoutMs: number): Promise<T | undefined> {
  for (const until = Date.now() + timeoutMs; ; await sleep(everyMs)) {
    const answer = await read();
    if (answer !== undefined) return answer;
    if (Date.now() + everyMs > until) return undefined;
  }
}
