// Builders and parsers for provision check: its services and network on the swarm (labelled
// provision.check, removed at the end) and the probes run inside its tasks.
import { dockerCommand, dockerScript, type RemoteCommand } from './shell.js';
import { z } from 'zod';
import { parseJsonShaped } from './answer.js';

const TASK = z.looseObject({
  NodeID: z.string().optional(),
  DesiredState: z.string(),
  Status: z.looseObject({ State: z.string(), Err: z.string().optional() }),
});
import { overlayMtuOption } from './preflight.js';
import { script } from './scripts.js';

export const CHECK_LABEL = 'provision.check';
export const CHECK_PREFIX = 'provision-check-';

/** Every task of check's global service serves a small file and a 64 KiB one over HTTP on 8080. */
const SERVE = 'mkdir -p /w && head -c 65536 /dev/urandom > /w/big && echo ok > /w/small && exec httpd -f -p 8080 -h /w';

export const cleanupCommand = (useSudo: boolean) => dockerScript(script('check-cleanup'), [], useSudo);
export const imageCommand = (image: string, pull: boolean, useSudo: boolean) =>
  dockerScript(script('check-image'), [image, pull ? '1' : '0'], useSudo);
/** stdin: the image's tar (docker save). */
export const imageLoadCommand = (useSudo: boolean) => dockerScript('dk_in load -q', [], useSudo);

export function networkCreateCommand(name: string, runId: string, mtu: number | null, useSudo: boolean): RemoteCommand {
  const labels = ['--label', `${CHECK_LABEL}=${runId}`];
  return dockerCommand(['network', 'create', '--driver', 'overlay', ...labels, ...overlayMtuOption(mtu), name], useSudo);
}

/** --no-resolve-image: an image loaded from a file has no registry to ask. */
function serviceCreate(name: string, runId: string, image: string, mode: string[], command: string[], useSudo: boolean) {
  const labels = ['--label', `${CHECK_LABEL}=${runId}`, '--container-label', `${CHECK_LABEL}=${runId}`];
  // A second to stop: busybox as PID 1 ignores SIGTERM, and Docker's 10 s default would be the measure of a move.
  const args = [
    'service',
    'create',
    '--detach',
    '--quiet',
    '--no-resolve-image',
    '--restart-condition',
    'none',
    '--stop-grace-period',
    '1s',
  ];
  args.push('--name', name, ...labels);
  return dockerCommand([...args, ...mode, image, ...command], useSudo);
}

export const globalServiceCommand = (name: string, network: string, runId: string, image: string, useSudo: boolean) =>
  serviceCreate(name, runId, image, ['--mode', 'global', '--network', network], ['sh', '-c', SERVE], useSudo);

export const movingServiceCommand = (name: string, runId: string, image: string, useSudo: boolean) =>
  serviceCreate(name, runId, image, ['--replicas', '1'], ['sleep', '3600'], useSudo);

export const serviceUpdateCommand = (name: string, args: readonly string[], useSudo: boolean) =>
  dockerCommand(['service', 'update', '--detach', '--quiet', ...args, name], useSudo);

export interface TaskInfo {
  nodeId: string;
  state: string; // running, failed, rejected, complete, …
  desired: string;
  error: string;
}

export function tasksCommand(service: string, useSudo: boolean): RemoteCommand {
  return dockerScript(
    `ids=$(dk service ps -q --no-trunc "$1") && { [ -z "$ids" ] || dk inspect --type task --format '{{json .}}' $ids; }`,
    [service],
    useSudo,
  );
}

export function parseTasks(stdout: string): TaskInfo[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      const t = parseJsonShaped('listing check tasks', 'docker inspect of a task as JSON', l, TASK);
      return { nodeId: t.NodeID ?? '', state: t.Status.State, desired: t.DesiredState, error: t.Status.Err ?? '' };
    });
}

export const taskCommand = (service: string, network: string, useSudo: boolean) =>
  dockerScript(script('check-task'), [service, network], useSudo);

export function parseTask(stdout: string): { ip: string; mtu: number | null; tools: string[] } | null {
  if (/^none$/m.test(stdout)) return null;
  const ip = /^ip=(\d{1,3}(?:\.\d{1,3}){3})$/m.exec(stdout)?.[1] ?? '';
  const mtu = /^mtu=(\d+)$/m.exec(stdout)?.[1];
  return { ip, mtu: mtu === undefined ? null : Number(mtu), tools: [...stdout.matchAll(/^tool=(\w+)$/gm)].map((m) => m[1] as string) };
}

export const fetchCommand = (service: string, tasks: number, peers: readonly string[], useSudo: boolean) =>
  dockerScript(script('check-fetch'), [service, String(tasks), ...peers], useSudo);

export interface FetchResult {
  pairs: { peer: string; small: number; big: number }[];
  dns: number | null;
  skipped: string[];
}

export function parseFetch(stdout: string): FetchResult {
  const pairs = [...stdout.matchAll(/^pair (\S+) (\d+) (\d+)$/gm)].map((m) => ({
    peer: m[1] as string,
    small: Number(m[2]),
    big: Number(m[3]),
  }));
  const dns = /^dns (\d+)$/m.exec(stdout)?.[1];
  return { pairs, dns: dns === undefined ? null : Number(dns), skipped: [...stdout.matchAll(/^skip (\w+)$/gm)].map((m) => m[1] as string) };
}

export const leftoversCommand = (useSudo: boolean) => dockerScript(script('check-leftovers'), [], useSudo);

export function parseLeftovers(stdout: string): { containers: number; networks: number } {
  const m = /^left (\d+) (\d+)$/m.exec(stdout);
  return { containers: Number(m?.[1] ?? 0), networks: Number(m?.[2] ?? 0) };
}

export const serviceRemoveCommand = (names: readonly string[], useSudo: boolean) => dockerCommand(['service', 'rm', ...names], useSudo);

/** The user's services and where their tasks run, to show check left them alone. */
export function userServicesCommand(useSudo: boolean): RemoteCommand {
  return dockerScript(
    `for s in $(dk service ls -q); do
  [ -z "$(dk service inspect --format '{{index .Spec.Labels "${CHECK_LABEL}"}}' "$s")" ] || continue
  dk service inspect --format '{{.ID}} {{.Spec.Name}} {{.Version.Index}}' "$s"
  echo "tasks $s $(dk service ps -q --filter desired-state=running --format '{{.Node}}' "$s" | sort | tr '\\n' ' ')"
done`,
    [],
    useSudo,
  );
}
