// The boot-time join (`provision swarm --install-service`): templates/provision-join.{sh,service}
// installed on every robot through `sudo -n` (the files on stdin), enabled where systemd runs.
import { readFileSync } from 'node:fs';
import { TOKEN_DIR } from '../remote/docker.js';
import { remoteScript } from '../remote/shell.js';
import { script } from '../remote/scripts.js';
import type { Fleet } from '../run/fleet.js';
import { runPhases, type Phase } from '../run/phases.js';
import { liveRobots, onRobot } from '../run/reached.js';

export const SERVICE_NAME = 'provision-join.service';
export const SCRIPT_PATH = '/usr/local/lib/provision/provision-join.sh';
export const UNIT_PATH = `/etc/systemd/system/${SERVICE_NAME}`;
export const ADVERTISE_FILE = 'advertise_addr';

interface ServiceTemplates {
  script: string;
  unit: string;
}

/** The template's line that engine-join.sh replaces: one join through the Engine API, for provision and the boot alike. */
const ENGINE_JOIN_LINE = /^# @ENGINE_JOIN@.*\n/m;

/** Read from the package (works from src under ts-jest and from dist), engine_join put in. */
export function serviceTemplates(): ServiceTemplates {
  const read = (name: string) => readFileSync(new URL(`../../templates/${name}`, import.meta.url), 'utf8');
  const template = read('provision-join.sh');
  if (!ENGINE_JOIN_LINE.test(template)) throw new Error('templates/provision-join.sh has no @ENGINE_JOIN@ line');
  return { script: template.replace(ENGINE_JOIN_LINE, () => script('engine-join')), unit: read('provision-join.service') };
}

const USER = /^[a-z_][a-z0-9_.-]{0,31}$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The unit for one robot: its user, and `sudo -n docker` where it has sudo. */
export function serviceUnit(template: string, user: string, useSudo: boolean): string {
  if (!USER.test(user)) throw new Error(`"${user}" is not a Linux user name: refusing to write it into ${SERVICE_NAME}`);
  return template.replaceAll('@USER@', user).replaceAll('@DOCKER@', useSudo ? 'sudo -n docker' : '');
}

interface ServiceOptions {
  dryRun?: boolean;
  advertiseAddr?: string;
  /** Install under this folder instead of / (tests); systemd is then left alone. */
  root?: string;
  templates?: ServiceTemplates;
}

/** The command installing both files (on its stdin, base64), and the files as installed. */
export function installServiceCommand(user: string, useSudo: boolean, options: ServiceOptions = {}) {
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
    command: remoteScript('install-service', [
      options.dryRun ? '1' : '0',
      root + SCRIPT_PATH,
      root + UNIT_PATH,
      root ? '0' : '1',
      adv,
      TOKEN_DIR,
      ADVERTISE_FILE,
      SERVICE_NAME,
    ]),
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

export async function installService(fleet: Fleet): Promise<void> {
  await runPhases(fleet, { fleet, templates: serviceTemplates() }, SERVICE_PHASES);
}

/** One phase; a dry run runs it too (the install script compares and says). */
export const SERVICE_PHASES: readonly Phase<{ fleet: Fleet; templates: ServiceTemplates }>[] = [
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
