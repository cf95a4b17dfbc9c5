// One SSH connection to one robot, carrying every exec and SFTP channel of a run.
// Knows nothing of Swarm: it runs command lines built by src/remote and writes files atomically.
import { Client, type ClientChannel, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { log, redact } from '../log.js';
import { lineOf, type RemoteCommand } from '../remote/shell.js';

export interface ExecResult { code: number; stdout: string; stderr: string }

export interface ExecOptions { stdin?: string; timeoutMs?: number }

export interface ConnectTarget { name: string; host: string; port: number; username: string }

/** Bounded concurrency: sshd's MaxSessions (10) frees slots late, so stay well under it. */
class Semaphore {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

export class RemoteCommandError extends Error {
  constructor(readonly robot: string, readonly what: string, readonly result: ExecResult) {
    super(`${what} failed (exit ${result.code}): ${redact(result.stderr.trim() || result.stdout.trim()).split('\n').slice(-3).join(' | ')}`);
  }
}

/** A TCP connection to host:port, or an ETIMEDOUT error after `timeoutMs`. */
export function tcpSocket(host: string, port: number, timeoutMs: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}

const CHANNELS_PER_CONNECTION = 4;
const DEFAULT_COMMAND_TIMEOUT_MS = 120_000;

export class RobotConnection {
  private channels = new Semaphore(CHANNELS_PER_CONNECTION);
  private sftpSession: Promise<SFTPWrapper> | null = null;
  private closed = false;
  /** The sudo password from --ask-become-pass, for commands that read it (RemoteCommand.readsSudoPassword). */
  sudoPassword: string | undefined;

  /** Rejects when the connection goes (sshd killed, link lost and keepalives unanswered). */
  private lost: Promise<never>;

  private constructor(readonly target: ConnectTarget, private client: Client) {
    this.lost = new Promise<never>((_resolve, reject) =>
      client.on('close', () => {
        this.closed = true;
        reject(new Error('the connection to the robot was lost'));
      }),
    );
    this.lost.catch(() => undefined); // nobody may be waiting when it goes
  }

  /** ssh2 leaves some callbacks (SFTP requests) unanswered when the connection dies: never wait on those. */
  private untilLost<T>(work: Promise<T>): Promise<T> {
    return Promise.race([work, this.lost]);
  }

  /**
   * Log in over a socket that `openSocket` provides: a TCP connection with its own short timeout
   * (an absent robot is known within seconds), or a channel through a jump host. The SSH handshake
   * and login get their own, longer limit (sshd delays failed passwords).
   */
  static async open(target: ConnectTarget, config: ConnectConfig, openSocket: () => Promise<Duplex>): Promise<RobotConnection> {
    const socket = await openSocket();
    return new Promise((resolve, reject) => {
      const client = new Client();
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        reject(err);
      };
      client.once('ready', () => {
        settled = true;
        client.setNoDelay(true); // without it every sequential exec pays Nagle's ~40 ms
        resolve(new RobotConnection(target, client));
      });
      client.on('error', fail);
      client.once('close', () => fail(new Error('connection closed during the handshake')));
      client.connect({ ...config, sock: socket as never, username: target.username });
    });
  }

  /**
   * A tunnel from this host to host:port (ProxyJump), for the next SSH connection to run over. The
   * jump host's own connect attempt can take minutes to fail, so it gets the short connect timeout.
   */
  forwardTo(host: string, port: number, timeoutMs: number): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(Object.assign(new Error(`no answer from ${host}:${port} via ${this.target.name} within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })), timeoutMs);
      this.client.forwardOut('127.0.0.1', 0, host, port, (err, stream) => {
        clearTimeout(timer);
        if (err) reject(Object.assign(err, { code: 'ECONNREFUSED', message: `${this.target.name} could not reach ${host}:${port}: ${err.message}` }));
        else resolve(stream);
      });
    });
  }

  private async withChannel<T>(open: () => Promise<T>): Promise<T> {
    // A channel refused while the server still frees earlier ones is retried, not fatal.
    for (let attempt = 0; ; attempt++) {
      try {
        return await open();
      } catch (err) {
        const message = (err as Error).message ?? '';
        if (attempt >= 5 || !/Channel open failure|open failed/i.test(message) || this.closed) throw err;
        await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
      }
    }
  }

  /** Run one command line (already quoted by src/remote/shell.ts). Never rejects on a non-zero exit. */
  async exec(remote: string | RemoteCommand, options: ExecOptions = {}): Promise<ExecResult> {
    const command = lineOf(remote);
    // The password goes first on stdin, ahead of any payload; the script reads exactly one line.
    const stdin = typeof remote !== 'string' && remote.readsSudoPassword ? `${this.sudoPassword ?? ''}\n${options.stdin ?? ''}` : options.stdin;
    await this.channels.acquire();
    try {
      const channel = await this.untilLost(this.withChannel(
        () => new Promise<ClientChannel>((resolve, reject) => this.client.exec(command, (err, ch) => (err ? reject(err) : resolve(ch)))),
      ));
      const result = await this.untilLost(new Promise<ExecResult>((resolve, reject) => {
        const out: Buffer[] = [];
        const errOut: Buffer[] = [];
        const timer = setTimeout(() => {
          channel.close();
          reject(new Error(`remote command timed out after ${Math.round((options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS) / 1000)} s`));
        }, options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS);
        this.lost.catch(() => clearTimeout(timer));
        channel.on('data', (d: Buffer) => out.push(d));
        channel.stderr.on('data', (d: Buffer) => errOut.push(d));
        channel.on('close', (code: number | null) => {
          clearTimeout(timer);
          resolve({ code: code ?? 255, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(errOut).toString('utf8') });
        });
        channel.end(stdin ?? undefined);
      }));
      log(this.target.name, `$ ${command}\n  -> exit ${result.code}${result.stderr.trim() ? `; stderr: ${result.stderr.trim()}` : ''}`);
      return result;
    } catch (err) {
      log(this.target.name, `$ ${command}\n  -> error: ${(err as Error).message}`);
      throw err;
    } finally {
      this.channels.release();
    }
  }

  /** exec, and throw a RemoteCommandError naming `what` on a non-zero exit. */
  async run(command: string | RemoteCommand, what: string, options: ExecOptions = {}): Promise<string> {
    const result = await this.exec(command, options);
    if (result.code !== 0) throw new RemoteCommandError(this.target.name, what, result);
    return result.stdout;
  }

  private sftp(): Promise<SFTPWrapper> {
    if (!this.sftpSession) {
      // The SFTP channel stays open for the run and holds one of the channel slots.
      this.sftpSession = this.channels.acquire().then(() =>
        this.withChannel(() => new Promise<SFTPWrapper>((resolve, reject) => this.client.sftp((err, s) => (err ? reject(err) : resolve(s))))),
      );
      this.sftpSession.catch(() => {
        this.sftpSession = null;
        this.channels.release();
      });
    }
    return this.sftpSession;
  }

  /**
   * Replace a file atomically: write a temp file beside it with the final mode, then
   * posix-rename it over the target. A reader never sees a half-written file.
   * Paths are relative to the login user's home.
   */
  async writeFileAtomic(path: string, content: string, mode: number): Promise<void> {
    const sftp = await this.untilLost(this.sftp());
    const tmp = `${path}.provision-tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const call = <T>(fn: (cb: (err: Error | null | undefined, value?: T) => void) => void) =>
      this.untilLost(new Promise<T | undefined>((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value)))));
    try {
      const handle = (await call<Buffer>((cb) => sftp.open(tmp, 'w', { mode }, cb))) as Buffer;
      const data = Buffer.from(content, 'utf8');
      let offset = 0;
      while (offset < data.length) {
        const chunk = Math.min(32 * 1024, data.length - offset);
        await call((cb) => sftp.write(handle, data, offset, chunk, offset, cb));
        offset += chunk;
      }
      await call((cb) => sftp.fchmod(handle, mode, cb)); // the umask may have narrowed or widened open()'s mode
      await call((cb) => sftp.close(handle, cb));
      await call((cb) => sftp.ext_openssh_rename(tmp, path, cb));
      log(this.target.name, `wrote ${path} (${data.length} bytes, mode ${mode.toString(8)})`);
    } catch (err) {
      await call((cb) => sftp.unlink(tmp, cb)).catch(() => undefined);
      throw new Error(`writing ~/${path} failed: ${(err as Error).message}`);
    }
  }

  close(): void {
    this.client.end();
  }
}
