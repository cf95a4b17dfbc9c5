// A command's stdout or stderr, kept up to a bound: a robot that prints without end (a broken
// ~/.bashrc, a huge file, a hostile robot) costs the laptop at most this much memory per stream.
import { printableJson, redact } from '../log.js';

export const OUTPUT_LIMIT_BYTES = 1024 * 1024;
const HEAD_SHOWN = 120;

export class BoundedOutput {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  /** Every byte that arrived, kept or not. */
  total = 0;

  constructor(
    readonly stream: 'stdout' | 'stderr',
    readonly limit = OUTPUT_LIMIT_BYTES,
  ) {}

  /** Keeps the chunk while under the bound; false once over it (the rest is only counted). */
  push(chunk: Buffer): boolean {
    this.total += chunk.length;
    const room = this.limit - this.kept;
    if (room > 0) {
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      this.chunks.push(part);
      this.kept += part.length;
    }
    return !this.over;
  }

  get over(): boolean {
    return this.total > this.limit;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }

  /**
   * Why the command failed: how much came, and the first bytes of `shown` (what was kept, without
   * provision's own mark; redacted, control characters escaped); `where`: who printed it.
   */
  floodError(where: string, shown = this.text()): OutputFlood {
    return new OutputFlood(this, where, shown);
  }
}

const mib = (bytes: number) => `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB`;

export class OutputFlood extends Error {
  constructor(output: BoundedOutput, where: string, text: string) {
    const clean = redact(text); // before the cut, which could leave a password's head
    const head = printableJson(JSON.stringify(clean.slice(0, HEAD_SHOWN))) + (clean.length > HEAD_SHOWN ? '…' : '');
    super(
      `${where} printed more than ${mib(output.limit)} on ${output.stream}: ${output.total} bytes had arrived when provision ` +
        `stopped reading and closed the command; it began with ${head}`,
    );
  }
}
