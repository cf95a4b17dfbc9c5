// Take robots out of the operator's inventory file (`provision remove`): the lines of each removed
// robot's entry are cut from the text (textEdit.ts); every other line — comments, order, spacing — stays.
import { isMap, isScalar, isSeq } from 'yaml';
import { editFile, lineStart, openForEdit, pairOf, rangeOf, robotIndex, splice, verified, type Edit } from './textEdit.js';

export function removeRobotsFromFile(file: string, names: readonly string[]): void {
  editFile(file, (text) => withoutRobots(text, names, file));
}

/** From the start of the line where `start` is to just after the line where `end` (exclusive) is. */
function wholeLines(text: string, start: number, end: number): Edit {
  const at = lineStart(text, start);
  const nl = text.indexOf('\n', Math.max(start, end - 1));
  return { at, remove: (nl < 0 ? text.length : nl + 1) - at };
}

/** The inventory text without the named robots (and without `swarm.leader` when it names one of them); pure. */
export function withoutRobots(text: string, names: readonly string[], file = 'inventory'): string {
  const { original, wanted } = openForEdit(text, file);
  const robots = original.get('robots', true);
  if (!isSeq(robots)) throw new Error(`${file}: "robots" is not a list`);
  const cuts: Edit[] = [];
  let flow = Boolean(robots.flow);
  const cutLines = (start: number | undefined, end: number | undefined) => {
    if (start === undefined || end === undefined) flow = true;
    else cuts.push(wholeLines(text, start, end));
  };
  const indexes = names.map((name) => {
    const index = robotIndex(robots.items, name);
    if (index < 0) throw new Error(`${file}: no robot named "${name}" to remove`);
    const range = rangeOf(robots.items[index]);
    cutLines(range?.[0], range?.[1]);
    return index;
  });
  for (const index of indexes.sort((a, b) => b - a)) wanted.deleteIn(['robots', index]);

  const swarm = original.get('swarm', true);
  if (isMap(swarm) && names.includes(String(swarm.get('leader')))) {
    // The leader named a robot that is gone: the swarm keeps its own leader; the key would be refused.
    wanted.deleteIn(['swarm', 'leader']);
    const pair = pairOf(swarm, 'leader');
    if (swarm.flow) flow = true;
    else cutLines(rangeOf(pair?.key)?.[0], rangeOf(pair?.value)?.[1]);
  }

  // Remembered as retired: a run that reaches a robot missed now still revokes them there.
  const retired = original.get('retired', true);
  const newlyRetired = names.filter((n) => !(isSeq(retired) && retired.items.some((i) => isScalar(i) && i.value === n)));
  if (isSeq(retired)) for (const name of newlyRetired) wanted.addIn(['retired'], name);
  else if (newlyRetired.length) wanted.set('retired', wanted.createNode(newlyRetired));
  if (retired !== undefined && newlyRetired.length) flow = true; // an existing list: the Document API edits it

  let out = splice(text, cuts);
  if (retired === undefined && newlyRetired.length) {
    out += `${out.endsWith('\n') ? '' : '\n'}# Taken out by provision remove: every run that reaches a robot withdraws their keys from it.\nretired: [${newlyRetired.join(', ')}]\n`;
  }
  // A flow-style list, or a cut that does not mean what the Document API says: its own rendering.
  return verified(out, wanted, file, flow);
}
