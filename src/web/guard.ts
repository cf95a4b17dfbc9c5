// provision ui's door: every request must carry the token, name an allowed Host (DNS rebinding) and
// come from the page itself (no cross-origin request). Pure: headers in, verdict out.
import { timingSafeEqual } from 'node:crypto';

export const TOKEN_COOKIE = 'provision_ui';

export interface GuardConfig {
  token: string;
  /** The Host header values accepted, e.g. "127.0.0.1:8123", "localhost:8123". */
  hosts: readonly string[];
}

export interface RequestHeads {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

export type Verdict = { ok: true; fromQuery: boolean } | { ok: false; status: 401 | 403 | 421; reason: string };

/** The Host values for a server on `address:port`: the address itself, and localhost for loopback. */
export function allowedHosts(address: string, port: number): string[] {
  const hosts = [address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`];
  if (address === '127.0.0.1' || address === '::1') hosts.push(`localhost:${port}`);
  return hosts;
}

const header = (h: RequestHeads['headers'], name: string) => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

function sameToken(given: string | undefined, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function cookieValue(cookieHeader: string | undefined, name: string): string | undefined {
  for (const part of (cookieHeader ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

export function checkRequest(req: RequestHeads, config: GuardConfig): Verdict {
  const host = (header(req.headers, 'host') ?? '').toLowerCase();
  if (!config.hosts.includes(host))
    return { ok: false, status: 421, reason: `Host "${host}" is not this server's address (a DNS-rebinding page would send its own name)` };
  const origin = header(req.headers, 'origin');
  if (origin !== undefined && origin !== `http://${host}`) return { ok: false, status: 403, reason: 'cross-origin request refused' };
  const site = header(req.headers, 'sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none')
    return { ok: false, status: 403, reason: 'cross-site request refused' };
  const url = new URL(req.url, 'http://x');
  const query = url.searchParams.get('token') ?? undefined;
  if (sameToken(query, config.token)) return { ok: true, fromQuery: true };
  if (sameToken(cookieValue(header(req.headers, 'cookie'), TOKEN_COOKIE), config.token)) return { ok: true, fromQuery: false };
  return { ok: false, status: 401, reason: 'the token is missing or wrong: open the URL provision ui printed' };
}
