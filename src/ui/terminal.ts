// What a terminal gets: colour, and progress as a live view, plain lines or nothing. Pure.

export type Paint = Record<'red' | 'yellow' | 'green' | 'dim', (text: string) => string>;

/** Never with NO_COLOR set (no-color.org: any non-empty value), --no-color, TERM=dumb, or to a pipe or file. */
export function colourWanted(isTTY: boolean | undefined, env: NodeJS.ProcessEnv, flag = true): boolean {
  return Boolean(isTTY) && flag && !env.NO_COLOR && env.TERM !== 'dumb';
}

const sgr = (open: number, close: number) => (text: string) => `\x1b[${open}m${text}\x1b[${close}m`;

const COLOUR: Paint = { red: sgr(31, 39), yellow: sgr(33, 39), green: sgr(32, 39), dim: sgr(2, 22) };
const same = (text: string) => text;
export const PLAIN: Paint = { red: same, yellow: same, green: same, dim: same };

export function painter(colour: boolean): Paint {
  return colour ? COLOUR : PLAIN;
}

/** Progress on stderr; `live: false` where the run itself prompts (the roles wizard). */
export function progressMode(f: {
  stderrTTY: boolean | undefined;
  verbose?: boolean | undefined;
  quiet?: boolean | undefined;
  json?: boolean | undefined;
  live?: boolean;
}): 'live' | 'lines' | 'none' {
  if (f.verbose) return 'lines';
  if (!f.stderrTTY || f.quiet || f.json) return 'none';
  return f.live === false ? 'lines' : 'live';
}
