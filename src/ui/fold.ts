// The same note on several robots is said once, naming them: `Ida, Otto and 97 more: …`. Pure.

/** `Ida`, `Ida and Otto`, `Ida, Otto and Emil`, `Ida, Otto and 97 more`. */
export function nameList(names: readonly string[], shown = 2): string {
  if (names.length <= 1) return names.join('');
  if (names.length <= shown + 1) return `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
  return `${names.slice(0, shown).join(', ')} and ${names.length - shown} more`;
}

export interface SharedNote {
  robots: string[];
  note: string;
}

/** Notes two or more robots share, in order of first appearance (one robot's note stays on its line). */
export function sharedNotes(outcomes: readonly { robot: string; notes: readonly string[] }[]): SharedNote[] {
  const byNote = new Map<string, string[]>();
  for (const o of outcomes) {
    for (const note of new Set(o.notes)) byNote.set(note, [...(byNote.get(note) ?? []), o.robot]);
  }
  return [...byNote].filter(([, robots]) => robots.length > 1).map(([note, robots]) => ({ robots, note }));
}

/** Details without the notes folded under the table (a change with the same words stays). */
export function unfolded(details: readonly string[], notes: readonly string[], shared: ReadonlySet<string>): string[] {
  const toDrop = new Map<string, number>();
  for (const n of notes) if (shared.has(n)) toDrop.set(n, (toDrop.get(n) ?? 0) + 1);
  return details.filter((d) => {
    const left = toDrop.get(d) ?? 0;
    if (!left) return true;
    toDrop.set(d, left - 1);
    return false;
  });
}
