// Write roles and the leader back into the operator's inventory file, changing nothing else.
//
// The yaml Document API finds the nodes and gives the intended result (setIn); the file itself is edited
// by splicing only the changed values (or one new line per new key) into the original text, because
// re-rendering the whole document would re-space the operator's aligned comments. The spliced text must
// parse to exactly what setIn produced and must pass the inventory's own validation, or nothing is written.
// The write is atomic: a temp file in the same folder, then rename.
import { readFileSync, statSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { isMap, isScalar, isSeq, parseDocument, type Document, type Pair, type YAMLMap } from 'yaml';
import { parseInventory } from './load.js';
import { writeFileAtomic } from '../localFile.js';

export type SavedRole = 'manager' | 'worker' | 'auto';

export function saveRoles(file: string, roles: Record<string, SavedRole>, leader: string): void {
  const before = readFileSync(file, 'utf8');
  const after = withRoles(before, roles, leader, file);
  if (after === before) return;
  writeAtomic(file, after);
}

/** The inventory text with roles and leader set; pure. Throws when the result would not be a valid inventory. */
export function withRoles(text: string, roles: Record<string, SavedRole>, leader: string, file = 'inventory'): string {
  const original = parseDocument(text);
  if (original.errors.length) throw new Error(`${file}: cannot edit: ${original.errors[0]?.message.split('\n')[0]}`);
  const wanted = parseDocument(text);
  const edits: Edit[] = [];
  const eol = text.includes('\r\n') ? '\r\n' : '\n';

  const robots = original.get('robots', true);
  const items: unknown[] = isSeq(robots) ? robots.items : [];
  for (const [name, role] of Object.entries(roles)) {
    const index = items.findIndex((item) => isMap(item) && item.get('name') === name);
    if (index < 0) throw new Error(`${file}: no robot named "${name}" to set the role of`);
    const map = items[index] as YAMLMap;
    const current = map.get('role');
    if (current === role || (current === undefined && role === 'auto')) continue; // 'auto' is the default: no new line for it
    wanted.setIn(['robots', index, 'role'], role);
    edits.push(setKey(text, map, 'role', role, ['name', 'ip', 'user', 'port'], eol));
  }

  const swarm = original.get('swarm', true);
  if (swarm === undefined || swarm === null) {
    wanted.setIn(['swarm', 'leader'], leader);
    edits.push(addTopLevelSwarm(text, original, leader, eol));
  } else if (isMap(swarm)) {
    if (swarm.get('leader') !== leader) {
      wanted.setIn(['swarm', 'leader'], leader);
      edits.push(setKey(text, swarm, 'leader', leader, ['managers'], eol));
    }
  } else {
    throw new Error(`${file}: "swarm" is not a mapping: cannot set swarm.leader`);
  }

  if (!edits.length) return text;
  let out = text;
  for (const e of edits.sort((a, b) => b.at - a.at)) out = out.slice(0, e.at) + e.insert + out.slice(e.at + e.remove);

  // The splice must mean exactly what the Document API says; if not, fall back to its own rendering
  // (comments and order kept, though their spacing may change).
  const check = parseDocument(out);
  if (check.errors.length || !isDeepStrictEqual(check.toJS(), wanted.toJS())) out = wanted.toString();
  parseInventory(out, file); // refuse to write an inventory that the next run would refuse
  return out;
}

interface Edit {
  at: number;
  remove: number;
  insert: string;
}

/** Replace the value of `key` in `map`, or add `key: value` after the last of `after` present (else after the first pair). */
function setKey(text: string, map: YAMLMap, key: string, value: string, after: string[], eol: string): Edit {
  const pair = map.items.find((p) => isScalar(p.key) && p.key.value === key);
  if (pair) {
    const node = pair.value;
    if (isScalar(node) && node.range) {
      const [start, end] = node.range;
      const quote = text[start] === '"' || text[start] === "'" ? text[start] : '';
      const insert = `${quote}${value}${quote}`;
      // Keep an aligned comment on the line in its column (at least one space before it).
      const gap = /^( +)#/.exec(text.slice(end, text.indexOf('\n', end) < 0 ? undefined : text.indexOf('\n', end)));
      if (gap) {
        const spaces = Math.max(1, gap[1]!.length - (insert.length - (end - start)));
        return { at: start, remove: end - start + gap[1]!.length, insert: insert + ' '.repeat(spaces) };
      }
      return { at: start, remove: end - start, insert };
    }
    if (node === null && isScalar(pair.key) && pair.key.range) {
      // `role:` with no value: put it after the colon
      const colon = text.indexOf(':', pair.key.range[1]);
      return { at: colon + 1, remove: 0, insert: ` ${value}` };
    }
    throw new Error(`cannot edit "${key}": its value is not a plain value`);
  }
  const anchor =
    [...map.items].reverse().find((p) => isScalar(p.key) && after.includes(String(p.key.value)) && isScalar(p.value)) ?? map.items[0];
  if (!anchor) throw new Error(`cannot add "${key}" to an empty mapping`);
  const anchorValueEnd = (anchor.value as { range?: [number, number, number] } | null)?.range?.[1];
  const keyRange = (anchor.key as { range?: [number, number, number] }).range;
  if (anchorValueEnd === undefined || !keyRange) throw new Error(`cannot add "${key}": no source position`);
  if (map.flow) return { at: anchorValueEnd, remove: 0, insert: `, ${key}: ${value}` };
  // Block mapping: a new line after the anchor's line (after any comment on it), at the anchor key's column.
  const lineStart = text.lastIndexOf('\n', keyRange[0] - 1) + 1;
  const indent = ' '.repeat(keyRange[0] - lineStart);
  const nl = text.indexOf('\n', anchorValueEnd);
  if (nl < 0) return { at: text.length, remove: 0, insert: `${eol}${indent}${key}: ${value}${eol}` };
  return { at: nl + 1, remove: 0, insert: `${indent}${key}: ${value}${eol}` };
}

/** No `swarm:` at all: add one before `robots:` (the block style of the file). */
function addTopLevelSwarm(text: string, doc: Document, leader: string, eol: string): Edit {
  const root = doc.contents;
  if (!isMap(root)) throw new Error('the inventory is not a mapping');
  const robots = root.items.find((p: Pair) => isScalar(p.key) && p.key.value === 'robots');
  const keyStart = (robots?.key as { range?: [number, number, number] } | undefined)?.range?.[0];
  if (root.flow || keyStart === undefined)
    return { at: text.length, remove: 0, insert: `${text.endsWith('\n') || !text ? '' : eol}swarm:${eol}  leader: ${leader}${eol}` };
  // Before `robots:` and the comment lines right above it (they describe the robots).
  let lineStart = text.lastIndexOf('\n', keyStart - 1) + 1;
  while (lineStart > 0) {
    const prev = text.lastIndexOf('\n', lineStart - 2) + 1;
    if (!text.slice(prev, lineStart).trimStart().startsWith('#')) break;
    lineStart = prev;
  }
  return { at: lineStart, remove: 0, insert: `swarm:${eol}  leader: ${leader}${eol}${eol}` };
}

export function writeAtomic(file: string, content: string): void {
  writeFileAtomic(file, content, statSync(file).mode & 0o777);
}
