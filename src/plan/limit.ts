// `--limit NAME[,NAME…]` (like Ansible's -l): which robots a run may change. Pure: checked against the
// inventory before any connection, so an unknown name is bad input (exit 2).

export class LimitError extends Error {}

/** The inventory's names the limit picks (matched ignoring case, as names are unique ignoring case). */
export function parseLimit(value: string, names: readonly string[]): Set<string> {
  const asked = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!asked.length) throw new LimitError('--limit needs at least one robot name (NAME[,NAME…])');
  const byLower = new Map(names.map((n) => [n.toLowerCase(), n]));
  const unknown = asked.filter((a) => !byLower.has(a.toLowerCase()));
  if (unknown.length) {
    throw new LimitError(
      `--limit: no robot named ${unknown.map((u) => JSON.stringify(u)).join(', ')} in the inventory (its robots: ${names.join(', ')})`,
    );
  }
  return new Set(asked.map((a) => byLower.get(a.toLowerCase())!));
}
