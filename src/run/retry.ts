// The one retry loop (elections, races with the swarm's own updates, handshakes refused under load):
// backoff with jitter, so that 300 robots retrying at once do not retry in step.
import { setTimeout as sleep } from 'node:timers/promises';
import { pause, throwIfInterrupted } from '../interrupt.js';

interface RetryPolicy {
  /** Give up after this many attempts (the first included), or... */
  attempts?: number;
  /** ...once this long has passed since the first, whichever comes first. */
  withinMs?: number;
  /** The first wait; each next doubles, up to maxMs. */
  baseMs: number;
  maxMs?: number;
  /** Spread each wait by up to ± this share (0: a fixed pace). */
  jitter?: number;
  /** Worth another attempt? Any other error is thrown at once. */
  retryIf: (err: unknown) => boolean;
  onRetry?: (err: unknown, attempt: number, waitMs: number) => void;
  /** false: Ctrl-C does not cut its waits short (what releases the run lock). Default: it does. */
  interruptible?: boolean;
}

export function backoffMs(policy: Pick<RetryPolicy, 'baseMs' | 'maxMs' | 'jitter'>, attempt: number, random = Math.random) {
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
      const interruptible = policy.interruptible !== false;
      if (interruptible) throwIfInterrupted();
      policy.onRetry?.(err, attempt, wait);
      await (interruptible ? pause(wait) : sleep(wait));
    }
  }
}

/** Ask `read` every `everyMs` until it answers (not undefined); undefined after `timeoutMs`. Ctrl-C ends it (Interrupted). */
export async function pollUntil<T>(read: () => Promise<T | undefined>, everyMs: number, timeoutMs: number): Promise<T | undefined> {
  for (const until = Date.now() + timeoutMs; ; await pause(everyMs)) {
    const answer = await read();
    if (answer !== undefined) return answer;
    if (Date.now() + everyMs > until) return undefined;
  }
}
