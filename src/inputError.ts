// Bad input (inventory, flags, local files): refused with exit 2 before any prompt or connection.
// Each problem says where (line, robot, field) so text and JSON can both name it.

export interface InputProblem {
  line?: number;
  robot?: string;
  field?: string;
  message: string;
}

export class InputError extends Error {
  constructor(
    readonly errors: InputProblem[],
    message = errors.map(problemText).join('\n'),
  ) {
    super(message);
  }
}

export function problemText(p: InputProblem) {
  const where = [p.line !== undefined ? `line ${p.line}` : '', p.robot ? `robot ${p.robot}` : '', p.field ? `field "${p.field}"` : '']
    .filter(Boolean)
    .join(' ');
  return where ? `${where}: ${p.message}` : p.message;
}

/** Problems in file order: the operator fixes them top to bottom; those without a line last. */
export function byLine(problems: InputProblem[]) {
  return problems
    .map((p, i) => [p, i] as const)
    .sort(([a, i], [b, j]) => (a.line ?? Infinity) - (b.line ?? Infinity) || i - j)
    .map(([p]) => p);
}

/** A local file that cannot be read, in the operator's words instead of ENOENT/EISDIR. */
export function unreadable(err: unknown) {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return 'there is no such file';
    case 'EISDIR':
      return 'it is a directory, not a file';
    case 'EACCES':
    case 'EPERM':
      return 'you have no permission to read it';
    case 'ENOTDIR':
      return 'a part of its path is a file, not a directory';
    case 'ELOOP':
      return 'it is a symbolic link that loops';
    default:
      return `it cannot be read (${(err as Error).message})`;
  }
}
