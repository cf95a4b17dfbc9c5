// provision ui's HTTP server (node:http): the page and its two assets from the package, the fleet's
// view as JSON, and server-sent events with each new view. Every request passes the guard first.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { allowedHosts, checkRequest, TOKEN_COOKIE, type GuardConfig } from './guard.js';
import { ACTIONS, type Action } from './actions.js';

/** The page's files: templates/ui in the package (the same path from src/web and dist/web). */
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cache-Control': 'no-store',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

function asset(file: string): Buffer {
  return readFileSync(new URL(`../../templates/ui/${file}`, import.meta.url));
}

export interface UiServer {
  url: string;
  /** Send the current view to every open page. */
  publish(view: object): void;
  /** A run's progress line or its end (--allow-actions). */
  publishRun(event: object): void;
  close(): Promise<void>;
}

export interface ServeOptions {
  host: string;
  port: number;
  token: string;
  /** The current view, for a page that just opened. */
  view: () => object;
  /** --allow-actions: starts a run; false when one is going. */
  act?: (command: Action) => boolean;
}

interface Door {
  guard: GuardConfig;
  streams: Set<ServerResponse>;
  latest: () => string;
  view: () => object;
  act?: ((command: Action) => boolean) | undefined;
}

/** One request: the guard, then the page, its assets, the view, or the event stream. */
function handle(req: IncomingMessage, res: ServerResponse, at: Door) {
  const verdict = checkRequest({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers }, at.guard);
  if (!verdict.ok) {
    res.writeHead(verdict.status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
    return void res.end(`${verdict.reason}\n`);
  }
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (req.method === 'POST' && path === '/api/run') return void runAction(req, res, at);
  if (req.method !== 'GET') {
    res.writeHead(405, { ...SECURITY_HEADERS, Allow: 'GET' });
    return void res.end();
  }
  const headers: Record<string, string> = { ...SECURITY_HEADERS };
  // The token from the URL becomes a cookie (HttpOnly, this origin only): the page's own requests carry it.
  if (verdict.fromQuery) headers['Set-Cookie'] = `${TOKEN_COOKIE}=${at.guard.token}; HttpOnly; SameSite=Strict; Path=/`;
  const known = ASSETS[path];
  if (known) {
    res.writeHead(200, { ...headers, 'Content-Type': known.type });
    return void res.end(asset(known.file));
  }
  if (path === '/api/view') {
    res.writeHead(200, { ...headers, 'Content-Type': 'application/json' });
    return void res.end(at.latest() || JSON.stringify(at.view()));
  }
  if (path === '/api/events') {
    res.writeHead(200, { ...headers, 'Content-Type': 'text/event-stream', Connection: 'keep-alive' });
    res.write(`retry: 2000\n\ndata: ${at.latest() || JSON.stringify(at.view())}\n\n`);
    at.streams.add(res);
    req.on('close', () => at.streams.delete(res));
    return;
  }
  if (path === '/favicon.ico') return void res.writeHead(204, headers).end(); // none: the browser asks anyway
  res.writeHead(404, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' });
  res.end('not found\n');
}

/**
 * POST /api/run?command=up: only with --allow-actions, only from the page itself (its Origin, which
 * browsers send on every POST, and a header no form can set), one run at a time.
 */
function runAction(req: IncomingMessage, res: ServerResponse, at: Door) {
  const command = new URL(req.url ?? '/', 'http://x').searchParams.get('command') as Action;
  const reply = (status: number, text: string) => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(`${text}\n`);
  };
  req.resume();
  if (!at.act) return reply(403, 'read-only: start provision ui with --allow-actions to run commands from the page');
  if (!req.headers.origin || req.headers['x-provision-action'] !== 'yes') return reply(403, 'only the page may start a run');
  if (!(ACTIONS as readonly string[]).includes(command)) return reply(400, `no such action: ${ACTIONS.join(', ')}`);
  if (!at.act(command)) return reply(409, 'a run is going: wait for its report');
  reply(202, `provision ${command} started`);
}

export async function serveUi(options: ServeOptions): Promise<UiServer> {
  const streams = new Set<ServerResponse>();
  const guard: GuardConfig = { token: options.token, hosts: [] };
  let latest = '';

  const server: Server = createServer((req, res) =>
    handle(req, res, { guard, streams, latest: () => latest, view: options.view, act: options.act }),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  guard.hosts = allowedHosts(options.host, port);
  const hostPart = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${hostPart}:${port}/?token=${options.token}`,
    publish(view) {
      latest = JSON.stringify(view);
      for (const res of streams) res.write(`data: ${latest}\n\n`);
    },
    publishRun(event) {
      const data = JSON.stringify(event);
      for (const res of streams) res.write(`event: run\ndata: ${data}\n\n`);
    },
    close() {
      for (const res of streams) res.end();
      streams.clear();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
