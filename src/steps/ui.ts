// `provision ui`: the fleet live in a local web page. Read-only: it watches, never changes a robot.
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { spawn } from 'node:child_process';
import type { Inventory } from '../inventory/schema.js';
import { loadOperatorIdentity, sshDir, type PassphrasePrompt } from '../ssh/auth.js';
import { KnownHosts } from '../ssh/knownHosts.js';
import { operatorIdentityFiles } from '../run/fleet.js';
import { fleetName, loadLastCheck } from '../run/lastCheck.js';
import { FleetWatch } from './watch.js';
import { fleetView } from '../ui/fleetView.js';
import { serveUi } from '../web/server.js';
import { ActionRunner } from '../web/actions.js';
import { interruption, runStarted } from '../interrupt.js';

export interface UiOptions {
  host: string;
  port: number;
  open: boolean;
  intervalMs: number;
  /** --allow-actions: the page may run status, check and up. */
  allowActions: boolean;
  connectTimeoutMs?: number | undefined;
  maxHandshakes: number;
  password?: string | undefined;
  sudoPassword?: string | undefined;
  askPassphrase?: PassphrasePrompt;
  /** Where the URL goes (stdout). */
  say: (line: string) => void;
}

/** The browser, only with --open: xdg-open / open / start, detached, its output ignored. */
function openBrowser(url: string) {
  const [cmd, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '', url]]
        : ['xdg-open', [url]];
  const child = spawn(cmd as string, args as string[], { detached: true, stdio: 'ignore' });
  child.on('error', () => undefined);
  child.unref();
}

/** Serves until Ctrl-C (SIGINT) or SIGTERM; resolves when everything is closed. */
export async function runUi(inventory: Inventory, options: UiOptions): Promise<void> {
  const identity = await loadOperatorIdentity(options.password, operatorIdentityFiles(inventory), options.askPassphrase);
  const knownHosts = new KnownHosts(dirname(sshDir()));
  const fleet = fleetName(inventory.file);
  let server: Awaited<ReturnType<typeof serveUi>> | null = null;
  const secrets: Record<string, string> = {
    ...(options.password ? { PROVISION_PASSWORD: options.password } : {}),
    ...(options.sudoPassword ? { PROVISION_BECOME_PASSWORD: options.sudoPassword } : {}),
  };
  const runner = options.allowActions ? new ActionRunner(inventory.file, secrets, (event) => server?.publishRun(event)) : null;
  const view = () => ({
    ...fleetView(inventory, fleet, watch.reading(), loadLastCheck(inventory.file)),
    actions: Boolean(runner),
    running: runner?.busy ?? false,
  });
  const watch = new FleetWatch(
    inventory,
    {
      identity,
      knownHosts,
      connectTimeoutMs: options.connectTimeoutMs,
      maxHandshakes: options.maxHandshakes,
      intervalMs: options.intervalMs,
      sudoPassword: options.sudoPassword,
    },
    () => server?.publish(view()),
  );
  server = await serveUi({
    host: options.host,
    port: options.port,
    token: randomBytes(24).toString('base64url'),
    view,
    ...(runner ? { act: (command) => runner.start(command) } : {}),
  });
  options.say(`provision ui: ${server.url}`);
  options.say('(the token in this URL is the only way in; Ctrl-C stops the server and closes every connection)');
  if (options.open) openBrowser(server.url);
  void watch.start();
  // Ctrl-C is how a server is stopped, not a run cut short: interrupt.ts aborts `interruption` (its
  // 1.8 s guard still ends a close that hangs, with 130); a clean close ends with 0.
  runStarted();
  await new Promise<void>((resolve) => {
    const stop = () => {
      interruption.removeEventListener('abort', stop);
      process.removeListener('SIGTERM', stop);
      watch.stop();
      // The run's own Ctrl-C releases its locks: the server waits for it (a second at most) before it ends.
      void Promise.all([runner?.stop(), server!.close()]).then(() => resolve());
    };
    if (interruption.aborted) return stop();
    interruption.addEventListener('abort', stop, { once: true });
    process.on('SIGTERM', stop);
  });
}
