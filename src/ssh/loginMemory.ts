// Which key last logged in to each robot (and jump host): offered first next time, so that an agent
// full of keys does not use up sshd's MaxAuthTries before the one the robot trusts. A hint, kept in
// provision's own folder beside its log, never in the inventory: losing it costs a few tries.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { logFile } from '../log.js';
import { readIfAny, writeFileAtomic } from '../localFile.js';
import { keyOf } from '../remote/sshFiles.js';

/** "user@host:port": one login, whatever the robot's name. */
export const loginTarget = (user: string, host: string, port: number) => `${user}@${host}:${port}`;

const TARGET = /^[^\s@]+@[^\s]+:\d+$/;

/** "target type base64" per line; anything else (a hand edit, a torn line) is ignored. */
function read(file: string): Map<string, string> {
  const keys = new Map<string, string>();
  for (const line of readIfAny(file).split('\n')) {
    const [target = '', ...rest] = line.trim().split(/\s+/);
    const key = keyOf(rest.join(' '));
    if (TARGET.test(target) && key) keys.set(target, key);
  }
  return keys;
}

export class LoginMemory {
  private readonly keys: Map<string, string>;
  /** This run's news, applied over the file as it is when saved (another run may have written it meanwhile). */
  private readonly news = new Map<string, string | null>();

  constructor(readonly file = join(dirname(logFile), 'logins')) {
    this.keys = read(file);
  }

  get(target: string): string | undefined {
    return this.keys.get(target);
  }

  /** The key that logged in to `target`, or null when a password did (the old one is forgotten). */
  remember(target: string, key: string | null): void {
    if ((key ?? undefined) === this.keys.get(target)) return;
    if (key) this.keys.set(target, key);
    else this.keys.delete(target);
    this.news.set(target, key);
  }

  /** Written atomically, 600 (it names the robots); a failure only loses the hint. */
  save(): void {
    if (!this.news.size) return;
    const keys = read(this.file);
    for (const [target, key] of this.news) {
      if (key) keys.set(target, key);
      else keys.delete(target);
    }
    try {
      mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
      writeFileAtomic(this.file, [...keys].map(([target, key]) => `${target} ${key}\n`).join(''), 0o600);
      this.news.clear();
    } catch {
      // The next run offers keys in the default order.
    }
  }
}
