// Editing the operator's inventory file in place, changing nothing else. The yaml Document API finds
// the nodes and gives the intended result; the file itself is edited by splicing only the changed lines
// or values into the original text, because re-rendering the whole document would re-space the
// operator's aligned comments.
import { readFileSync, statSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { isMap, isScalar, parseDocument, type Document, type Range, type YAMLMap } from 'yaml';
import { parseInventory } from './load.js';
import { writeFileAtomic } from '../localFile.js';

export function editFile(file: string, edit: (text: string) => string): void {
  const before = readFileSync(file, 'utf8');
  const after = edit(before);
  if (after !== before) writeFileAtomic(file, after, statSync(file).mode & 0o777);
}

/** The document twice: `original` to find the nodes in, `wanted` to make the edit on. */
export function openForEdit(text: string, file: string) {
  const original = parseDocument(text);
  if (original.errors.length) throw new Error(`${file}: cannot edit: ${original.errors[0]?.message.split('\n')[0]}`);
  return { original, wanted: parseDocument(text) };
}

export interface Edit {
  at: number;
  remove?: number;
  insert?: string;
}

export function splice(text: string, edits: Edit[]): string {
  let out = text;
  for (const e of edits.sort((a, b) => b.at - a.at)) out = out.slice(0, e.at) + (e.insert ?? '') + out.slice(e.at + (e.remove ?? 0));
  return out;
}

/**
 * The spliced text if it means exactly what the Document API says; if not (or when `rerender`), the
 * API's own rendering (comments and order kept, though their spacing may change).
 */
export function verified(spliced: string, wanted: Document, file: string, rerender = false): string {
  const check = parseDocument(spliced);
  const out = rerender || check.errors.length || !isDeepStrictEqual(check.toJS(), wanted.toJS()) ? wanted.toString() : spliced;
  parseInventory(out, file); // refuse to write an inventory that the next run would refuse
  return out;
}

export const pairOf = (map: YAMLMap, key: string) => map.items.find((p) => isScalar(p.key) && p.key.value === key);

export const rangeOf = (node: unknown) => (node as { range?: Range } | null | undefined)?.range;

export const lineStart = (text: string, at: number) => text.lastIndexOf('\n', at - 1) + 1;

export const robotIndex = (items: unknown[], name: string) => items.findIndex((item) => isMap(item) && item.get('name') === name);
