// Lists functions in src/ longer than 60 lines that carry no comment saying why (issue #14's rule).
import ts from 'typescript';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const LIMIT = 60;
const files = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
const found = [];
for (const file of files('src')) {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const visit = (node) => {
    if (ts.isFunctionLike(node) && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart()).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const why = ts.getLeadingCommentRanges(text, node.getFullStart())?.some((c) => /long/i.test(text.slice(c.pos, c.end)));
      if (end - start + 1 > LIMIT && !why)
        found.push(`${file}:${start + 1} ${end - start + 1} lines ${node.name?.getText() ?? '(anonymous)'}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
}
console.log(found.join('\n') || `no function in src/ over ${LIMIT} lines without a comment saying why`);
process.exitCode = found.length ? 1 : 0;
