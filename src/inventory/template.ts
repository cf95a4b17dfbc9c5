// `provision init`: the text of a first inventory, commented so that it explains itself. Pure: the
// caller writes it; parseInventory checks it like any other inventory.
import { InputError } from '../inputError.js';

export interface NewRobot {
  name: string;
  ip: string;
}

/** `Anton=192.168.50.11` → { name, ip }; checked for real by parseInventory on the written text. */
export function parseRobotPair(pair: string): NewRobot {
  const m = /^([^=\s]+)=([^=\s]+)$/.exec(pair.trim());
  if (!m) throw new InputError([{ message: `--robot ${JSON.stringify(pair)}: expected NAME=IP, e.g. --robot Anton=192.168.50.11` }]);
  return { name: m[1]!, ip: m[2]! };
}

export function inventoryText(robots: NewRobot[], user?: string): string {
  const [first, ...rest] = robots;
  // YAML-quoted through JSON: a hostile value stays one string, and parseInventory refuses it.
  const pad = (s: string, width = 21) => s.padEnd(width - 1) + ' ';
  const q = (s: string) => (/^[A-Za-z0-9._-]+$/.test(s) ? s : JSON.stringify(s));
  return `# provision inventory: the fleet, one entry per robot (written by provision init).
# Every command reads this file (-i FILE, or PROVISION_INVENTORY, else inventory/robots.yaml).
# provision roles writes roles back into it and keeps these comments.

defaults:
${pad(user ? `  user: ${q(user)}` : '  # user: robot')}# Linux user on the robots (else ~/.ssh/config User, else yours)
  port: 22           # SSH port
  sudo: false        # true: run docker through sudo (sudo -n, or the password of --ask-become-pass)

swarm:
  managers: auto     # auto = largest odd number <= min(7, robots allowed to manage); or an odd number
${pad(first ? `  leader: ${q(first.name)}` : '  # leader: Anton')}# where docker swarm init runs when no swarm exists yet
  # overlayMtu: auto  # MTU of the overlay networks provision creates: auto = the fleet's lowest MTU − 50 (a mesh link)
  # init:            # options of docker swarm init (all optional)
  #   listenAddr: 0.0.0.0:2377
  #   availability: active      # active | pause | drain

robots:
${
  first
    ? `${pad(`  - name: ${q(first.name)}`, 29)}# the Host alias everywhere: letters, digits, - and _
${pad(`    ip: ${q(first.ip)}`, 29)}# static IPv4 (managers advertise it)
    # user: anton            # this robot's own user and port, when not the defaults
    # port: 22
    # role: auto             # auto | manager | worker
    # canBecomeManager: true
    # canBecomeLeader: true
    # zone: hall-a           # managers are spread over zones
    # requireOverlay: false  # may join without the vxlan kernel module (runs no overlay service)
    # labels: { HAS_2D_MAP_DATA: true }
`
    : ''
}${rest.map((r) => `  - name: ${q(r.name)}\n    ip: ${q(r.ip)}\n`).join('')}`;
}
