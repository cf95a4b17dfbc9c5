// Builders and parsers of the preflight's remote reads (scripts/preflight.sh, scripts/path-mtu.sh) and
// the ingress network's MTU. Read-only, except the ingress re-creation right after `swarm init`.
import { dockerScript, remoteScript, type RemoteCommand } from './shell.js';
import { unexpectedAnswer } from './answer.js';

export function preflightCommand(ip: string): RemoteCommand {
  return { line: remoteScript('preflight', [ip]), readsSudoPassword: false };
}

export interface RobotReadout {
  clockS: number | null;
  iface: string | null;
  mtu: number | null;
  vxlan: boolean;
  ipVs: boolean;
  kernel: string;
  machineId: string | null;
  pingDf: boolean;
}

export function parsePreflight(stdout: string): RobotReadout {
  const values = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) values.set(line.slice(0, at), line.slice(at + 1).trim());
  }
  if (!values.has('clock') || !values.has('kernel'))
    throw unexpectedAnswer('reading the preflight facts', '"clock=" and "kernel=" lines', stdout);
  // A date without %N prints "N" literally: whole seconds then.
  const clock = Number.parseFloat(values.get('clock') ?? '');
  const mtu = Number(values.get('mtu'));
  return {
    clockS: Number.isFinite(clock) ? clock : null,
    iface: values.get('iface') || null,
    mtu: Number.isInteger(mtu) && mtu > 0 ? mtu : null,
    vxlan: values.get('vxlan') === 'yes',
    ipVs: values.get('ip_vs') === 'yes',
    kernel: values.get('kernel') ?? '',
    machineId: /^[0-9a-f]{16}$/.test(values.get('machine_id') ?? '') ? (values.get('machine_id') as string) : null,
    pingDf: values.get('ping_df') === 'yes',
  };
}

export function pathMtuCommand(peers: readonly string[]): string {
  return remoteScript('path-mtu', peers);
}

/** peer address → the largest unfragmented size that passed (0: none). */
export function parsePathMtus(stdout: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const m of stdout.matchAll(/^pmtu=(\d{1,3}(?:\.\d{1,3}){3}) (\d+)$/gm)) found.set(m[1] as string, Number(m[2]));
  return found;
}

const MTU_OPT = 'com.docker.network.driver.mtu';

/** The ingress network's MTU option ('' where Docker's default applies). */
export function ingressMtuCommand(useSudo: boolean): RemoteCommand {
  return dockerScript(`dk network inspect ingress --format '{{index .Options "${MTU_OPT}"}}'`, [], useSudo);
}

/**
 * Right after `swarm init` (no service yet): the ingress network again, at `mtu`. Docker takes an
 * overlay's MTU only when it is created. `network rm ingress` asks to confirm on stdin (only "y" does,
 * and it exits 0 either way) and removes it asynchronously: wait until it is gone.
 */
export function recreateIngressCommand(mtu: number, useSudo: boolean): RemoteCommand {
  return dockerScript(
    `echo y | dk_in network rm ingress >/dev/null
i=0
while dk network inspect ingress >/dev/null 2>&1; do
  [ "$i" -lt 50 ] || { echo "the ingress network was not removed within 10 s" >&2; exit 1; }
  i=$((i + 1)); sleep 0.2
done
dk network create --driver overlay --ingress --opt "${MTU_OPT}=$1" ingress >/dev/null`,
    [String(driverMtu(mtu))],
    useSudo,
  );
}

/**
 * `--opt` for an overlay whose containers get `mtu`: the driver takes the option as the underlay's MTU
 * and gives containers 50 less (measured on Docker 20.10: option 1400, containers 1350). check reads
 * the MTU its tasks really got.
 */
export const driverMtu = (mtu: number) => mtu + 50;
export const overlayMtuOption = (mtu: number | null) => (mtu === null ? [] : ['--opt', `${MTU_OPT}=${driverMtu(mtu)}`]);
