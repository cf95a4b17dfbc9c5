// Progress events: what steps say while they run, for whatever renders it (ui/liveView.ts on a
// terminal). Steps emit; they never know how (or whether) it is shown.

export type ProgressEvent =
  | { kind: 'phase-started'; phase: number; title: string; total: number }
  | { kind: 'phase-advanced'; phase: number; done: number; total: number }
  | { kind: 'phase-finished'; phase: number }
  | { kind: 'robot-failed'; robot: string; reason: string };

export type ProgressListener = (event: ProgressEvent) => void;

/** One phase of a run (`joining workers 37/93`). */
export interface Phase {
  advance(): void;
  /** More work found while the phase runs (e.g. the mesh check's follow-up probes). */
  grow(by: number): void;
  finish(): void;
}

let lastPhase = 0;

/** Finishing twice says it once. */
export function startPhase(listener: ProgressListener | undefined, title: string, total: number): Phase {
  const phase = ++lastPhase;
  let done = 0;
  let finished = false;
  listener?.({ kind: 'phase-started', phase, title, total });
  const advance = (doneBy: number, totalBy: number) => {
    if (finished) return;
    done += doneBy;
    total += totalBy;
    listener?.({ kind: 'phase-advanced', phase, done, total });
  };
  return {
    advance: () => advance(1, 0),
    grow: (by) => advance(0, by),
    finish: () => {
      if (finished) return;
      finished = true;
      listener?.({ kind: 'phase-finished', phase });
    },
  };
}
