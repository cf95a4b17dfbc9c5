// Ctrl-C. Imported first by cli.ts, before the rest loads (a few hundred ms on a busy machine): until a
// run starts (Fleet.open), it ends with 130 at once. During a run it aborts `interruption`: connecting
// stops, every wait ends, commands under way are abandoned, the run lock is released (see Fleet), and
// the run ends with its report, saying which robots were interrupted, exit 130. A second Ctrl-C ends at once.
import { setMaxListeners } from 'node:events';
import { log } from './log.js';

export class Interrupted extends Error {
  constructor() {
    super('interrupted (Ctrl-C)');
    this.name = 'Interrupted';
  }
}

const controller = new AbortController();
export const interruption: AbortSignal = controller.signal;
setMaxListeners(0, interruption); // one listener per wait and per command under way: hundreds of robots

/** Ctrl-C to its end: the unwinding takes well under a second; past this, nothing may hold the process. */
const GRACE_MS = 1800;

let runUnderWay = false;

process.on('SIGINT', () => {
  if (!runUnderWay || interruption.aborted) process.exit(130);
  controller.abort(new Interrupted());
  // Unref'd: it fires only if something (a socket, a timer) still holds the event loop; the log names it.
  setTimeout(() => {
    log('provision', `still running ${GRACE_MS} ms after Ctrl-C, ended by force; held by: ${process.getActiveResourcesInfo().join(', ')}`);
    process.exit(130);
  }, GRACE_MS).unref();
});

/** From here on Ctrl-C unwinds the run rather than ending the process. */
export function runStarted(): void {
  runUnderWay = true;
}

export function throwIfInterrupted(): void {
  if (interruption.aborted) throw interruption.reason;
}

/** `work`, or Interrupted as soon as Ctrl-C comes (work goes on unobserved: the connection's close ends it). */
export function abandonOnInterrupt<T>(work: Promise<T>): Promise<T> {
  if (interruption.aborted) {
    work.catch(() => undefined);
    return Promise.reject(interruption.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const stop = () => reject(interruption.reason as Error);
    interruption.addEventListener('abort', stop, { once: true });
    work.then(resolve, reject).finally(() => interruption.removeEventListener('abort', stop));
  });
}

/** A pause that Ctrl-C ends early, rejecting with Interrupted; no timer is left behind. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (interruption.aborted) return reject(interruption.reason as Error);
    const stop = () => {
      clearTimeout(timer);
      reject(interruption.reason as Error);
    };
    const timer = setTimeout(() => {
      interruption.removeEventListener('abort', stop);
      resolve();
    }, ms);
    interruption.addEventListener('abort', stop, { once: true });
  });
}
