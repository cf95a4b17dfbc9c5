// Take robots out of the operator's inventory file (`provision remove`), changing nothing else: the
// lines of each removed robot's entry are cut from the text, every other line — comments, order,
// spacing — stays. As in save.ts, the cut text must parse to what the yaml Document API gives for the
// same removal, and must pass the inventory's own validation, or nothing is written.
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { isMap, isScalar, isSeq, parseDocument, type Pair, type YAMLMap } from 'yaml';
import { parseInventory } from './load.js';
import { writeAtomic } from './save.js';

export function removeRobotsFromFile(file: string, names: readonly string[]): void {
  const before = readFileSync(file, 'utf8');
  const after = withoutRobots(before, names, file);
  if (after !== before) writeAtomic(file, after);
}

interface Cut {
  at: number;
  end: number;
}

/** From the start of the line where `start` is to just after the line where `end` (exclusive) is. */
function wholeLines(text: string, start: number, end: number): Cut {
  const at = text.lastIndexOf('\n', start - 1) + 1;
  const nl = text.indexOf('\n', Math.max(start, end - 1));
  return { at, end: nl < 0 ? text.length : nl + 1 };
}

/** The inventory text without the named robots (and without `swarm.leader` when it names one of them); pure. */
export function withoutRobots(text: string, names: readonly string[], file = 'inventory'): string {
  const original = parseDocument(text);
  if (original.errors.length) throw new Error(`${file}: cannot edit: ${original.errors[0]?.message.split('\n')[0]}`);
  const wanted = parseDocument(text);
  const robots = original.get('robots', true);
  if (!isSeq(robots)) throw new Error(`${file}: "robots" is not a list`);
  const cuts: Cut[] = [];
  let flow = Boolean(robots.flow);
  const indexes = names.map((name) => {
    const index = robots.items.findIndex((item) => isMap(item) && item.get('name') === name);
    if (index < 0) throw new Error(`${file}: no robot named "${name}" to remove`);
    const range = (robots.items[index] as YAMLMap).range;
    if (!range) flow = true;
    else cuts.push(wholeLines(text, range[0], range[1]));
    return index;
  });
  for (const index of [...indexes].sort((a, b) => b - a)) wanted.deleteIn(['robots', index]);

  const swarm = original.get('swarm', true);
  if (isMap(swarm) && names.includes(String(swarm.get('leader')))) {
    // The leader named a robot that is gone: the swarm keeps its own leader; the key would be refused.
    wanted.deleteIn(['swarm', 'leader']);
    const pair = swarm.items.find((p: Pair) => isScalar(p.key) && p.key.value === 'leader');
    const keyRange = (pair?.key as { range?: [number, number, number] } | undefined)?.range;
    const valueRange = (pair?.value as { range?: [number, number, number] } | undefined)?.range;
    if (swarm.flow || !keyRange || !valueRange) flow = true;
    else cuts.push(wholeLines(text, keyRange[0], valueRange[1]));
  }

  // Remembered as retired: a run that reaches a robot missed now still revokes them there.
  const retired = original.get('retired', true);
  const newlyRetired = names.filter((n) => !(isSeq(retired) && retired.items.some((i) => isScalar(i) && i.value === n)));
  if (isSeq(retired)) for (const name of newlyRetired) wanted.addIn(['retired'], name);
  else if (newlyRetired.length) wanted.set('retired', wanted.createNode(newlyRetired));
  if (retired !== undefined && newlyRetired.length) flow = true; // an existing list: the Document API edits it

  let out = text;
  for (const c of cuts.sort((a, b) => b.at - a.at)) out = out.slice(0, c.at) + out.slice(c.end);
  if (retired === undefined && newlyRetired.length) {
    out += `${out.endsWith('\n') ? '' : '\n'}# Taken out by provision remove: every run that reaches a robot withdraws their keys from it.\nretired: [${newlyRetired.join(', ')}]\n`;
  }
  const check = parseDocument(out);
  // A flow-style list, or a cut that does not mean what the Document API says: its own rendering
  // (comments and order kept, their spacing may change).
  if (flow || check.errors.length || !isDeepStrictEqual(check.toJS(), wanted.toJS())) out = wanted.toString();
  parseInventory(out, file); // refuse to write an inventory that the next run would refuse
  return out;
}
