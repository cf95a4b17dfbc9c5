// Load and validate the inventory. Every problem is reported with file, line, robot and field;
// a file with any problem is refused as a whole, so nothing runs for a bad robot.
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isNode } from 'yaml';
import { userInfo } from 'node:os';
import type { core } from 'zod';
import { USER, inventorySchema, type Inventory, type InventoryFile, type RobotSsh } from './schema.js';
import { InputError, byLine, unreadable, type InputProblem } from '../inputError.js';

/** A problem as the text report says it, and as JSON names it. */
interface Found {
  text: string;
  problem: InputProblem;
}

export class InventoryError extends InputError {
  /** The problems as text lines, in file order. */
  readonly problems: string[];
  constructor(file: string, found: Found[]) {
    const sorted = byLine(found.map((f) => f.problem)).map((p) => found.find((f) => f.problem === p)!);
    super(
      sorted.map((f) => f.problem),
      `${file}: invalid inventory:\n${sorted.map((f) => `  - ${f.text}`).join('\n')}`,
    );
    this.problems = sorted.map((f) => f.text);
  }
}

const plain = (message: string, line?: number): Found => ({
  text: line !== undefined ? `line ${line}: ${message}` : message,
  problem: { ...(line !== undefined ? { line } : {}), message },
});

type Path = readonly (string | number)[];

/** What the operator's ~/.ssh/config says for a robot known by its name and address. */
interface OperatorSsh {
  user?: string;
  port?: number;
  ssh?: RobotSsh;
}
export type OperatorSshLookup = (name: string, ip: string) => OperatorSsh;

export function loadInventory(file: string, operatorSsh?: OperatorSshLookup): Inventory {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InventoryError(file, [plain(`cannot read the inventory: ${unreadable(err)}`)]);
  }
  return parseInventory(text, file, operatorSsh);
}

/**
 * The inventory wins where it sets a value; else the operator's ~/.ssh/config (User, Port), else
 * what ssh itself would use (the local user name, port 22).
 */
export function parseInventory(
  text: string,
  file: string,
  operatorSsh: OperatorSshLookup = () => ({}),
  localUser = userInfo().username,
): Inventory {
  const { data, where } = validated(text, file);
  const fromSsh = data.robots.map((r) => operatorSsh(r.name, r.ip));
  const users = data.robots.map((r, i) => r.user ?? data.defaults.user ?? fromSsh[i]?.user ?? localUser);
  const ports = data.robots.map((r, i) => r.port ?? data.defaults.port ?? fromSsh[i]?.port ?? 22);
  const problems = [...robotProblems(data, users, fromSsh, where), ...addressProblems(data, ports, where), ...leaderProblems(data, where)];
  if (problems.length) throw new InventoryError(file, problems);
  const robots = data.robots.map((r, i) => ({
    name: r.name,
    ip: r.ip,
    user: users[i]!,
    port: ports[i]!,
    sudo: r.sudo ?? data.defaults.sudo,
    role: r.role,
    canBecomeManager: r.canBecomeManager,
    canBecomeLeader: r.canBecomeLeader,
    ...(r.zone !== undefined ? { zone: r.zone } : {}),
    requireOverlay: r.requireOverlay,
    labels: r.labels,
    ...(fromSsh[i]?.ssh ? { ssh: fromSsh[i]?.ssh } : {}),
  }));
  return { file, robots, swarm: data.swarm, retired: data.retired };
}

type Where = (path: Path, message: string) => Found;

function validated(text: string, file: string) {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    throw new InventoryError(
      file,
      doc.errors.map((e) => plain(`YAML: ${e.message.split('\n')[0]}`, lineCounter.linePos(e.pos[0]).line)),
    );
  }
  const raw: unknown = doc.toJS();
  if (raw === null || raw === undefined)
    throw new InventoryError(file, [plain('the file is empty: it needs a robots: list (provision init writes a commented one)')]);
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new InventoryError(file, [plain('expected a mapping with robots: (and optionally defaults: and swarm:) at the top level', 1)]);
  const where: Where = (path, message) => locate(raw, path, lineOf(doc, lineCounter, path), message);
  const parsed = inventorySchema.safeParse(raw);
  if (!parsed.success) {
    throw new InventoryError(
      file,
      parsed.error.issues.map((issue) => where(issue.path as Path, `${operatorWords(issue)}${got(raw, issue.path as Path)}`)),
    );
  }
  return { data: parsed.data, where };
}

function robotProblems(data: InventoryFile, users: string[], fromSsh: OperatorSsh[], where: Where) {
  const problems: Found[] = [];
  const names = data.robots.map((r) => r.name.toLowerCase());
  data.robots.forEach((r, i) => {
    const first = names.indexOf(names[i]!);
    if (first < i)
      problems.push(where(['robots', i, 'name'], `the name is already used by robots[${first}] (names are unique ignoring case)`));
    if (data.retired.some((n) => n.toLowerCase() === names[i]))
      problems.push(
        where(
          ['robots', i, 'name'],
          `${r.name} is also in retired (provision remove took it out): delete it from retired to bring it back`,
        ),
      );
    // A user from ~/.ssh/config or the local account reaches shell lines too: the same rule applies.
    if (!USER.test(users[i]!))
      problems.push(
        where(
          ['robots', i, 'user'],
          `no user in the inventory, and ${JSON.stringify(users[i])} (from ~/.ssh/config or the local account) is not a Linux user name: set user`,
        ),
      );
    for (const hop of fromSsh[i]?.ssh?.jumps ?? []) {
      if (!USER.test(hop.user) || !/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(hop.host))
        problems.push(
          where(
            ['robots', i],
            `its ProxyJump host ${JSON.stringify(`${hop.user}@${hop.host}`)} (from ~/.ssh/config) is not a valid user and host name`,
          ),
        );
    }
  });
  return problems;
}

function addressProblems(data: InventoryFile, ports: number[], where: Where) {
  const addresses = data.robots.map((r, i) => `${r.ip}:${ports[i]}`);
  return addresses.flatMap((a, i) =>
    addresses.indexOf(a) < i ? [where(['robots', i, 'ip'], `the address is already used by robots[${addresses.indexOf(a)}]`)] : [],
  );
}

function leaderProblems(data: InventoryFile, where: Where) {
  const leader = data.swarm.leader;
  if (leader === undefined) return [];
  const robot = data.robots.find((r) => r.name.toLowerCase() === leader.toLowerCase());
  if (!robot) return [where(['swarm', 'leader'], `no robot is named "${leader}"`)];
  if (!robot.canBecomeLeader || !robot.canBecomeManager || robot.role === 'worker')
    return [where(['swarm', 'leader'], `robot "${robot.name}" may not lead (canBecomeLeader/canBecomeManager false or role worker)`)];
  return [];
}

function lineOf(doc: ReturnType<typeof parseDocument>, lc: LineCounter, path: Path) {
  // Walk up the path until a node with a source range exists (a missing field points at its parent).
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
  }
  return undefined;
}

function locate(raw: unknown, path: Path, line: number | undefined, message: string) {
  const prefix = line ? `line ${line}: ` : '';
  const at = line ? { line } : {};
  if (path[0] === 'robots' && typeof path[1] === 'number') {
    const name = ((raw as { robots?: unknown[] }).robots?.[path[1]] as { name?: unknown } | undefined)?.name;
    const named = typeof name === 'string';
    const field = path.slice(2).join('.');
    return {
      text: `${prefix}robot ${named ? JSON.stringify(name) : `#${path[1] + 1}`} (robots[${path[1]}])${field ? ` field "${field}"` : ''}: ${message}`,
      problem: { ...at, robot: named ? name : `robots[${path[1]}]`, ...(field ? { field } : {}), message },
    };
  }
  const field = path.join('.') || '(top level)';
  return { text: `${prefix}field "${field}": ${message}`, problem: { ...at, field, message } };
}

/** zod's type messages ("Invalid input: expected object, received null") as an operator reads them. */
function operatorWords(issue: core.$ZodIssue) {
  if (issue.code !== 'invalid_type') return issue.message;
  const expected =
    {
      object: 'a mapping (key: value lines)',
      array: 'a list (- item lines)',
      string: 'text',
      number: 'a number',
      boolean: 'true or false',
    }[issue.expected as string] ?? issue.expected;
  return /received (null|undefined)/.test(issue.message) ? `is empty: it must be ${expected}` : `must be ${expected}`;
}

function got(raw: unknown, path: Path) {
  let value: unknown = raw;
  for (const key of path) value = (value as Record<string | number, unknown> | undefined)?.[key];
  if (value === undefined || typeof value === 'object') return '';
  return `, got ${JSON.stringify(value)}`;
}
