// Write roles and the leader back into the operator's inventory file: only the changed values, or one
// new line per new key, are spliced into the text (textEdit.ts).
import { isMap, isScalar, isSeq, type Document, type YAMLMap } from 'yaml';
import { editFile, lineStart, openForEdit, pairOf, rangeOf, robotIndex, splice, verified, type Edit } from './textEdit.js';

export type SavedRole = 'manager' | 'worker' | 'auto';

export function saveRoles(file: string, roles: Record<string, SavedRole>, leader: string): void {
  editFile(file, (text) => withRoles(text, roles, leader, file));
}

/** The inventory text with roles and leader set; pure. Throws when the result would not be a valid inventory. */
export function withRoles(text: string, roles: Record<string, SavedRole>, leader: string, file = 'inventory'): string {
  const { original, wanted } = openForEdit(text, file);
  const edits: Edit[] = [];
  const eol = text.includes('\r\n') ? '\r\n' : '\n';

  const robots = original.get('robots', true);
  const items: unknown[] = isSeq(robots) ? robots.items : [];
  for (const [name, role] of Object.entries(roles)) {
    const index = robotIndex(items, name);
    if (index < 0) throw new Error(`${file}: no robot named "${name}" to set the role of`);
    const map = items[index] as YAMLMap;
    const current = map.get('role');
    if (current === role || (current === undefined && role === 'auto')) continue; // 'auto' is the default: no new line for it
    wanted.setIn(['robots', index, 'role'], role);
    edits.push(setKey(text, map, 'role', role, ['name', 'ip', 'user', 'port'], eol));
  }

  const swarm = original.get('swarm', true);
  if (swarm != null && !isMap(swarm)) throw new Error(`${file}: "swarm" is not a mapping: cannot set swarm.leader`);
  if (swarm?.get('leader') !== leader) {
    wanted.setIn(['swarm', 'leader'], leader);
    edits.push(swarm ? setKey(text, swarm, 'leader', leader, ['managers'], eol) : addTopLevelSwarm(text, original, leader, eol));
  }

  return edits.length ? verified(splice(text, edits), wanted, file) : text;
}

/** Replace the value of `key` in `map`, or add `key: value` after the last of `after` present (else after the first pair). */
function setKey(text: string, map: YAMLMap, key: string, value: string, after: string[], eol: string): Edit {
  const pair = pairOf(map, key);
  if (pair) {
    const node = pair.value;
    if (isScalar(node) && node.range) {
      const [start, end] = node.range;
      const quote = text[start] === '"' || text[start] === "'" ? text[start] : '';
      const insert = `${quote}${value}${quote}`;
      // Keep an aligned comment on the line in its column (at least one space before it).
      const gap = /^ +(?=#)/.exec(text.slice(end))?.[0].length ?? 0;
      const spaces = gap && Math.max(1, gap - (insert.length - (end - start)));
      return { at: start, remove: end - start + gap, insert: insert + ' '.repeat(spaces) };
    }
    if (node === null && isScalar(pair.key) && pair.key.range) {
      return { at: text.indexOf(':', pair.key.range[1]) + 1, insert: ` ${value}` };
    }
    throw new Error(`cannot edit "${key}": its value is not a plain value`);
  }
  const anchor =
    [...map.items].reverse().find((p) => isScalar(p.key) && after.includes(String(p.key.value)) && isScalar(p.value)) ?? map.items[0];
  if (!anchor) throw new Error(`cannot add "${key}" to an empty mapping`);
  const anchorValueEnd = rangeOf(anchor.value)?.[1];
  const keyStart = rangeOf(anchor.key)?.[0];
  if (anchorValueEnd === undefined || keyStart === undefined) throw new Error(`cannot add "${key}": no source position`);
  if (map.flow) return { at: anchorValueEnd, insert: `, ${key}: ${value}` };
  // Block mapping: a new line after the anchor's line (after any comment on it), at the anchor key's column.
  const line = `${' '.repeat(keyStart - lineStart(text, keyStart))}${key}: ${value}${eol}`;
  const nl = text.indexOf('\n', anchorValueEnd);
  return nl < 0 ? { at: text.length, insert: eol + line } : { at: nl + 1, insert: line };
}

/** No `swarm:` at all: add one before `robots:` (the block style of the file). */
function addTopLevelSwarm(text: string, doc: Document, leader: string, eol: string): Edit {
  const root = doc.contents;
  if (!isMap(root)) throw new Error('the inventory is not a mapping');
  const keyStart = rangeOf(pairOf(root, 'robots')?.key)?.[0];
  const swarm = `swarm:${eol}  leader: ${leader}${eol}`;
  if (root.flow || keyStart === undefined) return { at: text.length, insert: `${text.endsWith('\n') || !text ? '' : eol}${swarm}` };
  // Before `robots:` and the comment lines right above it (they describe the robots).
  let at = lineStart(text, keyStart);
  while (at > 0) {
    const prev = lineStart(text, at - 1);
    if (!text.slice(prev, at).trimStart().startsWith('#')) break;
    at = prev;
  }
  return { at, insert: swarm + eol };
}
