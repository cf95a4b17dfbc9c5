// One SSH connection to one robot, carrying every exec channel of a run, file writes included.
// Knows nothing of Swarm: it runs the command lines src/remote builds.
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import { connect } from 'node:net';
import { Readable, pipeline, type Duplex } from 'node:stream';
import { log, redact } from '../log.js';
import { forAnyLoginShell, lineOf, splitAtMark, type RemoteCommand } from '../remote/shell.js';
import { WRITTEN, parseWritten, writeFileCommand } from '../remote/files.js';
import { unexpectedAnswer } from '../remote/answer.js';
import { retry } from '../run/retry.js';
import { BoundedOutput } from './boundedOutput.js';
import { abandonOnInterrupt, interruption, throwIfInterrupted } from '../interrupt.js';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `unknown`: not a reading of the robot's ports but the preflight's verdict (plan/preflight.ts probeVerdict). */
export type TcpProbeResult = 'open' | 'refused' | 'filtered' | 'unreachable' | 'forbidden' | 'unknown';

interface ExecOptions {
  /** A stream is piped (an image for docker load), never held whole in memory. */
  stdin?: string | Buffer | Readable;
  timeoutMs?: number;
  /** A read repeated every few seconds (provision ui): logged only when it fails, so the log does not grow without end. */
  quiet?: boolean;
  /**
   * The run lock and what Ctrl-C itself runs (releasing the lock, check's cleanup): run to their end,
   * may start after Ctrl-C, and take no channel slot (the commands abandoned may still hold theirs).
   */
  uninterruptible?: boolean;
  /**
   * The command's stdout so far (after the login shell's mark), as it arrives: a caller may act before
   * the call ends. Asked again on each arrival until it answers true.
   */
  onStdout?: (soFar: string) => boolean;
}

/** Runs a line as sshd would receive it, with its stdin (see RobotConnection.standIn); may tell its stdout as it comes. */
export type StandIn = (line: string, stdin: string | Buffer | undefined, onStdout?: (soFar: string) => void) => Promise<ExecResult>;

interface ConnectTarget {
  name: string;
  host: string;
  port: number;
  username: string;
}

/** Bounded concurrency: sshd's MaxSessions (10) frees slots late, so stay well under it. */
class Semaphore {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}
  async acquire(): Promise<void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

export class RemoteCommandError extends Error {
  constructor(
    readonly robot: string,
    readonly what: string,
    readonly result: ExecResult,
  ) {
    super(
      `${what} failed (exit ${result.code}): ${redact(result.stderr.trim() || result.stdout.trim())
        .split('\n')
        .slice(-3)
        .join(' | ')}`,
    );
  }
}

/** Rejects with code ETIMEDOUT after `timeoutMs`, with Interrupted on Ctrl-C. */
export function tcpSocket(host: string, port: number, timeoutMs: number): Promise<Duplex> {
  throwIfInterrupted();
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const settle = (err?: Error) => {
      clearTimeout(timer);
      interruption.removeEventListener('abort', stop);
      if (!err) return resolve(socket);
      socket.destroy();
      reject(err);
    };
    const stop = () => settle(interruption.reason as Error);
    interruption.addEventListener('abort', stop, { once: true });
    const timer = setTimeout(
      () => settle(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })),
      timeoutMs,
    );
    socket.once('error', settle);
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      settle();
    });
  });
}

/** Who printed the flood: before /bin/sh's mark on stdout, the login shell's start-up files did. */
function floodOf(sink: BoundedOutput, stdout: BoundedOutput): Error {
  const where = splitAtMark(stdout.text()).marked ? 'the command' : "the robot's login shell (a start-up file such as ~/.bashrc)";
  const own = splitAtMark(sink.text());
  return sink.floodError(where, own.marked ? own.before + own.output : own.before);
}

/** A stand-in's whole answer, held to the same bound as a robot's. */
function bounded(raw: ExecResult, limit?: number): ExecResult {
  const out = new BoundedOutput('stdout', limit);
  const errOut = new BoundedOutput('stderr');
  out.push(Buffer.from(raw.stdout));
  errOut.push(Buffer.from(raw.stderr));
  for (const sink of [out, errOut]) if (sink.over) throw floodOf(sink, out);
  return raw;
}

const CHANNELS_PER_CONNECTION = 4;
const DEFAULT_COMMAND_TIMEOUT_MS = 120_000;

export class RobotConnection {
  private channels = new Semaphore(CHANNELS_PER_CONNECTION);
  private closed = false;
  /** What the login shell printed before our command ran (~/.bashrc greetings …), once seen. */
  loginShellOutput: string | null = null;
  /** From --ask-become-pass, for commands that read it (RemoteCommand.readsSudoPassword). */
  sudoPassword: string | undefined;

  /** Rejects when the connection goes (sshd killed, link lost and keepalives unanswered). */
  private lost: Promise<never>;

  /** Set by standIn: a test runs the commands, not sshd. */
  private standInRun: StandIn | null = null;

  private constructor(
    readonly target: ConnectTarget,
    private client: Client,
  ) {
    this.lost = new Promise<never>((_resolve, reject) =>
      client.on('close', () => {
        this.closed = true;
        reject(new Error('the connection to the robot was lost'));
      }),
    );
    this.lost.catch(() => undefined); // nobody may be waiting when it goes
  }

  /** ssh2 may leave callbacks unanswered when the connection dies: never wait on those. */
  private untilLost<T>(work: Promise<T>): Promise<T> {
    return Promise.race([work, this.lost]);
  }

  /** Log in over `openSocket`'s socket (TCP or a jump host's channel), whose own short timeout finds an absent robot in seconds. */
  static async open(target: ConnectTarget, config: ConnectConfig, openSocket: () => Promise<Duplex>): Promise<RobotConnection> {
    const socket = await openSocket();
    return new Promise((resolve, reject) => {
      const client = new Client();
      // Ctrl-C during the handshake: the socket goes at once, the robot counts as interrupted.
      const stop = () => {
        reject(interruption.reason as Error);
        client.destroy();
        socket.destroy();
      };
      if (interruption.aborted) return stop();
      interruption.addEventListener('abort', stop, { once: true });
      client.once('ready', () => {
        interruption.removeEventListener('abort', stop);
        client.setNoDelay(true); // without it every sequential exec pays Nagle's ~40 ms
        resolve(new RobotConnection(target, client));
      });
      // No-ops once ready (a promise settles once).
      client.on('error', reject);
      client.once('close', () => {
        interruption.removeEventListener('abort', stop);
        reject(new Error('connection closed during the handshake'));
      });
      client.connect({ ...config, sock: socket as never, username: target.username });
    });
  }

  /**
   * A connection whose commands a test runs (the line as sshd would receive it, and its stdin) instead
   * of a robot: the login-shell wrapping, marks, errors and writes stay real.
   */
  static standIn(target: ConnectTarget, run: StandIn): RobotConnection {
    const conn = new RobotConnection(target, new Client());
    conn.standInRun = run;
    return conn;
  }

  /** A tunnel to host:port through this host (ProxyJump): its connect can take minutes to fail, hence the timeout. */
  forwardTo(host: string, port: number, timeoutMs: number): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const stop = () => {
        clearTimeout(timer);
        reject(interruption.reason as Error);
      };
      const timer = setTimeout(() => {
        interruption.removeEventListener('abort', stop);
        reject(
          Object.assign(new Error(`no answer from ${host}:${port} via ${this.target.name} within ${timeoutMs / 1000} s`), {
            code: 'ETIMEDOUT',
          }),
        );
      }, timeoutMs);
      if (interruption.aborted) return stop();
      interruption.addEventListener('abort', stop, { once: true });
      this.client.forwardOut('127.0.0.1', 0, host, port, (err, stream) => {
        clearTimeout(timer);
        interruption.removeEventListener('abort', stop);
        if (err)
          reject(
            Object.assign(err, { code: 'ECONNREFUSED', message: `${this.target.name} could not reach ${host}:${port}: ${err.message}` }),
          );
        else resolve(stream);
      });
    });
  }

  /**
   * Whether this robot's sshd can open TCP host:port for us (a direct-tcpip channel: the robot connects,
   * not the laptop). Refused means reachable with nothing listening; no answer in time means filtered.
   */
  probeTcp(host: string, port: number, timeoutMs: number): Promise<TcpProbeResult> {
    if (this.standInRun) return Promise.resolve('forbidden');
    return new Promise((resolve) => {
      let settled = false;
      const settle = (result: TcpProbeResult) => {
        clearTimeout(timer);
        if (!settled) resolve(result);
        settled = true;
      };
      const timer = setTimeout(() => settle('filtered'), timeoutMs);
      this.lost.catch(() => settle('unreachable'));
      if (this.closed) return settle('unreachable');
      this.client.forwardOut('127.0.0.1', 0, host, port, (err, stream) => {
        clearTimeout(timer);
        if (stream) stream.destroy(); // an answer after the time-out is closed too
        if (!err) return settle('open');
        const reason = (err as Error & { reason?: number }).reason;
        if (reason === 1) return settle('forbidden'); // administratively prohibited
        settle(/refused/i.test(err.message) ? 'refused' : /timed? ?out/i.test(err.message) ? 'filtered' : 'unreachable');
      });
    });
  }

  /** Run one command line under /bin/sh, whatever the login shell; never rejects on a non-zero exit. */
  async exec(remote: string | RemoteCommand, options: ExecOptions = {}): Promise<ExecResult> {
    const command = lineOf(remote);
    // The password goes first on stdin, ahead of any payload; the script reads exactly one line.
    // A file that cannot be read fails this command when it is piped, not the process now.
    if (options.stdin instanceof Readable) options.stdin.once('error', () => undefined);
    const stdin = typeof remote !== 'string' && remote.readsSudoPassword ? this.withSudoPassword(options.stdin) : options.stdin;
    const { uninterruptible = false } = options;
    const outputLimit = typeof remote === 'string' ? undefined : remote.outputLimit;
    const { onStdout } = options;
    let watching = Boolean(onStdout); // until onStdout answers true
    const seen = (raw: string) => {
      const out = watching ? splitAtMark(raw) : null;
      if (out?.marked && onStdout?.(out.output)) watching = false;
      return !watching;
    };
    const run = async () => {
      const wire = forAnyLoginShell(command);
      if (!this.standInRun)
        return this.overSsh(wire, stdin, options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, uninterruptible, outputLimit, onStdout && seen);
      const input = stdin instanceof Readable ? Buffer.concat(await stdin.toArray()) : stdin;
      const answer = bounded(await this.standInRun(wire, input, seen), outputLimit);
      seen(answer.stdout); // a stand-in that told nothing as it came
      return answer;
    };
    const inSlot = async () => {
      await this.channels.acquire();
      try {
        throwIfInterrupted(); // it waited for a slot through a Ctrl-C: not started
        return await run();
      } finally {
        this.channels.release();
      }
    };
    // The call's time in the log: where a run spends its time, robot by robot (a slow robot, a slow step).
    const t0 = Date.now();
    const took = () => `${((Date.now() - t0) / 1000).toFixed(2)} s`;
    try {
      if (!uninterruptible) throwIfInterrupted();
      const result = this.withoutLoginShellOutput(await (uninterruptible ? run() : abandonOnInterrupt(inSlot())));
      if (!options.quiet || result.code !== 0)
        log(
          this.target.name,
          `$ ${command}\n  -> exit ${result.code} in ${took()}${result.stderr.trim() ? `; stderr: ${result.stderr.trim()}` : ''}`,
        );
      return result;
    } catch (err) {
      log(this.target.name, `$ ${command}\n  -> error after ${took()}: ${(err as Error).message}`);
      throw err;
    }
  }

  private withSudoPassword(stdin: ExecOptions['stdin']): ExecOptions['stdin'] {
    const line = Buffer.from(`${this.sudoPassword ?? ''}\n`);
    if (!(stdin instanceof Readable)) return Buffer.concat([line, Buffer.from(stdin ?? '')]);
    return Readable.from(
      (async function* () {
        yield line;
        yield* stdin;
      })(),
    );
  }

  /** Rejects on timeout or a lost connection. */
  private async overSsh(
    wire: string,
    stdin: ExecOptions['stdin'],
    timeoutMs: number,
    uninterruptible: boolean,
    outputLimit?: number,
    onStdout?: (raw: string) => boolean, // true: no more
  ): Promise<ExecResult> {
    const openChannel = () =>
      new Promise<ClientChannel>((resolve, reject) => this.client.exec(wire, (err, ch) => (err ? reject(err) : resolve(ch))));
    // A channel refused while the server still frees earlier ones is retried, not fatal.
    const refused = (err: unknown) => /Channel open failure|open failed/i.test((err as Error).message ?? '') && !this.closed;
    const channel = await this.untilLost(
      retry(openChannel, { attempts: 6, baseMs: 50, maxMs: 200, retryIf: refused, interruptible: !uninterruptible }),
    );
    return this.untilLost(
      new Promise<ExecResult>((resolve, reject) => {
        const out = new BoundedOutput('stdout', outputLimit);
        const errOut = new BoundedOutput('stderr');
        const timer = setTimeout(() => {
          channel.close();
          reject(new Error(`remote command timed out after ${Math.round(timeoutMs / 1000)} s`));
        }, timeoutMs);
        this.lost.catch(() => clearTimeout(timer));
        // Over the bound: stop reading and close the channel (sshd then closes the command's pipes), not buffer on.
        const collect = (sink: BoundedOutput) => (d: Buffer) => {
          if (sink.push(d) || sink.total - d.length > sink.limit) return;
          clearTimeout(timer);
          channel.close();
          reject(floodOf(sink, out));
        };
        const collectOut = collect(out);
        let watching = Boolean(onStdout);
        channel.on('data', (d: Buffer) => {
          collectOut(d);
          if (watching && onStdout?.(out.text())) watching = false;
        });
        channel.stderr.on('data', collect(errOut));
        channel.on('close', (code: number | null) => {
          clearTimeout(timer);
          resolve({ code: code ?? 255, stdout: out.text(), stderr: errOut.text() });
        });
        if (stdin instanceof Readable)
          pipeline(stdin, channel, (err) => {
            // The command ended before reading it all: its exit and stderr (the close handler) say why.
            if (!err || (err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
            channel.close(); // the remote command must not wait for the rest
            reject(err);
          });
        else channel.end(stdin);
      }),
    );
  }

  /**
   * The command's own output: what the login shell printed before /bin/sh's mark is set aside (and
   * remembered once, for a note). No mark on stdout means the login shell never ran the command.
   */
  private withoutLoginShellOutput(raw: ExecResult): ExecResult {
    const out = splitAtMark(raw.stdout);
    const err = splitAtMark(raw.stderr);
    const talk = (out.marked ? out.before : '') + (err.marked ? err.before : '');
    if (talk.trim() && this.loginShellOutput === null) this.loginShellOutput = talk;
    if (out.marked) return { code: raw.code, stdout: out.output, stderr: err.marked ? err.output : raw.stderr };
    const said = (raw.stderr.trim() || raw.stdout.trim()).split('\n').slice(-2).join(' | ');
    return {
      code: raw.code === 0 ? 127 : raw.code,
      stdout: '',
      stderr: `the robot's login shell did not run the command (/bin/sh and base64 are needed)${said ? `; it said: ${said.slice(0, 200)}` : ''}`,
    };
  }

  async run(command: string | RemoteCommand, what: string, options: ExecOptions = {}): Promise<string> {
    const result = await this.exec(command, options);
    if (result.code !== 0) throw new RemoteCommandError(this.target.name, what, result);
    return result.stdout;
  }

  /**
   * Replace a file atomically (see writeFileCommand): a reader never sees a half-written file; on a full
   * or read-only disk the old file stays. Paths are relative to the login user's home.
   */
  async writeFileAtomic(path: string, content: string | Buffer, mode: number): Promise<void> {
    const what = `writing ~/${path}`;
    const bytes = Buffer.byteLength(content);
    const answer = await this.run(writeFileCommand(path, mode, bytes), what, { stdin: content });
    if (!parseWritten(answer).has(path)) throw unexpectedAnswer(what, `"${WRITTEN} ${path}"`, answer);
    log(this.target.name, `wrote ${path} (${bytes} bytes, mode ${mode.toString(8)})`);
  }

  /**
   * A polite end; a robot that does not answer it (link gone, or too busy) is cut off shortly after, at
   * once after Ctrl-C, so that nothing holds the process.
   */
  close(): void {
    this.client.end();
    if (interruption.aborted) this.client.destroy();
    else setTimeout(() => this.client.destroy(), 500).unref();
  }
}
