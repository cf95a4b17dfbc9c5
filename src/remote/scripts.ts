// The remote scripts, documented at their top; the build copies them into dist.
import { readFileSync } from 'node:fs';

const loaded = new Map<string, string>();

/**
 * scripts/NAME.sh, read once, without its leading comments (the wire need not carry them). A script that
 * calls in_home (every one writing under the home) gets its definition, scripts/in-home.sh, ahead of it.
 */
export function script(name: string): string {
  let text = loaded.get(name);
  if (text === undefined) {
    text = readFileSync(new URL(`./scripts/${name}.sh`, import.meta.url), 'utf8').replace(/^(#.*\n)+/, '');
    if (name !== 'in-home' && /\bin_home /.test(text)) text = script('in-home') + text;
    loaded.set(name, text);
  }
  return text;
}
