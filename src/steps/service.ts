// The boot-time join (`provision swarm --install-service`): templates/provision-join.sh and
// templates/provision-join.service installed on every robot through `sudo -n`, enabled where systemd
// runs. The builders are pure (templates given or read from the package); installService does the I/O.
// The files travel on stdin; every command line is built by src/remote/shell.ts.
import { readFileSync } from 'node:fs';
import { TOKEN_DIR } from '../remote/docker.js';
import { scriptWithArgs } from '../remote/shell.js';
import type { Fleet } from '../run/fleet.js';
import { runPhases, type Phase } from '../run/phases.js';
import { liveRobots, onRobot, reachedRobots, type Reached } from '../run/reached.js';

export const SERVICE_NAME = 'provision-join.service';
export const SCRIPT_PATH = '/usr/local/lib/provision/provision-join.sh';
export const UNIT_PATH = `/etc/systemd/system/${SERVICE_NAME}`;
export const ADVERTISE_FILE = 'advertise_addr';

export interface ServiceTemplates {
  script: string;
  unit: string;
}

/** The two templates, read from the package (works from src under ts-jest and from dist). */
export function serviceTemplates(): ServiceTemplates {
  const read = (name: string) => readFileSync(new URL(`../../templates/${name}`, import.meta.url), 'utf8');
  return { script: read('provision-join.sh'), unit: read('provision-join.service') };
}

const USER = /^[a-z_][a-z0-9_.-]{0,31}$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The unit for one robot: its user (and `sudo -n docker` where the inventory says sudo). */
export function serviceUnit(template: string, user: string, useSudo: boolean): string {
  if (!USER.test(user)) throw new Error(`"${user}" is not a Linux user name: refusing to write it into ${SERVICE_NAME}`);
  return template.replaceAll('@USER@', user).replaceAll('@DOCKER@', useSudo ? 'sudo -n docker' : '');
}

// Runs as the login user. stdin: "script\n<base64>\nunit\n<base64>\n". $1 = 1 for a dry run,
// $2 script path, $3 unit path, $4 = 1 to enable the unit where systemd runs, $5 the robot's static
// address for ~/swarm_tokens/advertise_addr ('' to leave that file alone). A file is replaced (temp
// file beside it, then renamed) only when its content, mode or owner differs. Prints what it did:
// "changed:script", "changed:unit", "changed:advertise_addr", "enabled", "no-systemd".
const INSTALL = `
dry=$1; script=$2; unit=$3; systemd=$4; adv=$5
cd || exit 1
if [ "$(id -u)" = 0 ]; then su=; else su="sudo -n"; fi
checked=
as_root() {
  if [ -n "$su" ] && [ -z "$checked" ]; then
    sudo -n true 2>/dev/null || { echo "installing the boot-time join needs root, and 'sudo -n' does not work for $(id -un): allow it passwordless sudo, or install as root" >&2; exit 4; }
    checked=1
  fi
  $su "$@" </dev/null
}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
unit_changed=0
while read -r name && read -r data; do
  case $name in
    script) dest=$script; mode=755 ;;
    unit) dest=$unit; mode=644 ;;
    *) echo "unexpected file '$name' on stdin" >&2; exit 1 ;;
  esac
  printf '%s' "$data" | base64 -d > "$tmp/$name" || exit 1
  if [ -f "$dest" ] && cmp -s "$tmp/$name" "$dest" && [ "$(stat -c %a:%u "$dest")" = "$mode:0" ]; then continue; fi
  echo "changed:$name"
  [ "$name" = unit ] && unit_changed=1
  [ "$dry" = 1 ] && continue
  as_root mkdir -p "\${dest%/*}" &&
    as_root install -m "$mode" -o 0 -g 0 "$tmp/$name" "$dest.provision-tmp" &&
    as_root mv -f "$dest.provision-tmp" "$dest" || { as_root rm -f "$dest.provision-tmp"; exit 1; }
done
if [ -n "$adv" ]; then
  f=${TOKEN_DIR}/${ADVERTISE_FILE}
  if [ "$(cat "$f" 2>/dev/null)" != "$adv" ] || [ "$(stat -c %a "$f")" != 600 ]; then
    echo "changed:${ADVERTISE_FILE}"
    if [ "$dry" != 1 ]; then
      (umask 077 && mkdir -p ${TOKEN_DIR}) &&
        printf '%s\\n' "$adv" > "$f.tmp.$$" && chmod 600 "$f.tmp.$$" && mv -f "$f.tmp.$$" "$f" || { rm -f "$f.tmp.$$"; exit 1; }
    fi
  fi
fi
[ "$systemd" = 1 ] || exit 0
if ! command -v systemctl >/dev/null 2>&1 || [ ! -d /run/systemd/system ]; then echo "no-systemd"; exit 0; fi
if [ "$unit_changed" = 1 ] && [ "$dry" != 1 ]; then as_root systemctl daemon-reload || exit 1; fi
if ! systemctl is-enabled --quiet ${SERVICE_NAME} 2>/dev/null; then
  echo "enabled"
  [ "$dry" = 1 ] || as_root systemctl enable --quiet ${SERVICE_NAME} || exit 1
fi
`;

export interface ServiceOptions {
  dryRun?: boolean;
  /** The robot's static address, written to ~/swarm_tokens/advertise_addr for --advertise-addr. */
  advertiseAddr?: string;
  /** Install under this folder instead of / (tests); systemd is then left alone. */
  root?: string;
  templates?: ServiceTemplates;
}

export interface ServiceInstall {
  script: string; // the script's content, as installed
  unit: string; // the unit's content, user substituted
  command: string; // the remote command line
  stdin: string; // what the command reads: both files, base64
}

export function installServiceCommand(user: string, useSudo: boolean, options: ServiceOptions = {}): ServiceInstall {
  const templates = options.templates ?? serviceTemplates();
  const unit = serviceUnit(templates.unit, user, useSudo);
  const adv = options.advertiseAddr ?? '';
  if (adv && !(IPV4.test(adv) && adv.split('.').every((o) => Number(o) <= 255))) throw new Error(`"${adv}" is not an IPv4 address`);
  const root = options.root ?? '';
  if (root && !/^(\/[A-Za-z0-9_.-]+)+$/.test(root)) throw new Error(`install root "${root}" must be an absolute path`);
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  return {
    script: templates.script,
    unit,
    command: scriptWithArgs(INSTALL, [options.dryRun ? '1' : '0', root + SCRIPT_PATH, root + UNIT_PATH, root ? '0' : '1', adv]),
    stdin: `script\n${b64(templates.script)}\nunit\n${b64(unit)}\n`,
  };
}

export interface InstallResult {
  changed: string[];
  enabled: boolean;
  systemd: boolean;
}

export function parseInstallOutput(stdout: string): InstallResult {
  const lines = stdout.split('\n').map((l) => l.trim());
  return {
    changed: lines.filter((l) => l.startsWith('changed:')).map((l) => l.slice('changed:'.length)),
    enabled: lines.includes('enabled'),
    systemd: !lines.includes('no-systemd'),
  };
}

const WHAT: Record<string, string> = {
  script: SCRIPT_PATH,
  unit: UNIT_PATH,
  [ADVERTISE_FILE]: `~/${TOKEN_DIR}/${ADVERTISE_FILE}`,
};

export interface ServiceState {
  fleet: Fleet;
  templates: ServiceTemplates;
  reached: Map<string, Reached>;
}

/** Install the boot-time join on every connected robot; changed where a file or the enablement changed, else ok. */
export async function installService(fleet: Fleet): Promise<void> {
  await runPhases(fleet, { fleet, templates: serviceTemplates(), reached: reachedRobots(fleet) }, SERVICE_PHASES);
}

/** The phases of `--install-service`: one (a dry run runs it too: the install script compares and says). */
export const SERVICE_PHASES: readonly Phase<ServiceState>[] = [
  {
    title: 'installing the boot-time join service',
    robots: (s) => liveRobots(s.fleet).filter((n) => s.fleet.inLimit(n)), // --limit: the others are not changed
    each: onRobot(async ({ fleet, templates }, { robot, conn }) => {
      const name = robot.name;
      const dry = fleet.options.dryRun;
      const plan = installServiceCommand(robot.user, robot.sudo, { dryRun: dry, advertiseAddr: robot.ip, templates });
      const result = parseInstallOutput(await conn.run(plan.command, 'installing the boot-time join service', { stdin: plan.stdin }));
      if (result.changed.length) {
        fleet.changed(name, `boot-time join: ${dry ? 'would write' : 'wrote'} ${result.changed.map((c) => WHAT[c] ?? c).join(', ')}`);
      }
      if (result.enabled) fleet.changed(name, `boot-time join: ${dry ? 'would enable' : 'enabled'} ${SERVICE_NAME}`);
      if (!result.systemd)
        fleet.note(name, `boot-time join: systemd not running: ${dry ? 'would install, not enable' : 'installed, not enabled'}`);
    }),
  },
];
