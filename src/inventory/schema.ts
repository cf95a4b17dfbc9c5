// The inventory's schema: one place for field rules, types and error messages.
// Names, users and addresses are restricted so that hostile values never reach a connection or a shell.
import { z } from 'zod';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
export const USER = /^[a-z_][a-z0-9_.-]{0,31}$/;
// `provision.labels` is the node label where provision records the labels it manages (plan/labels.ts).
const LABEL_KEY = /^(?!provision\.labels$)[A-Za-z][A-Za-z0-9_.-]{0,62}$/;
const LABEL_VALUE = /^[A-Za-z0-9_.:/@+-]{0,128}$/;

const ipv4 = z
  .string()
  .refine((s) => /^\d{1,3}(\.\d{1,3}){3}$/.test(s) && s.split('.').every((o) => Number(o) <= 255 && String(Number(o)) === o), {
    message: 'must be a static IPv4 address like 192.168.50.11',
  });
const robotName = z.string().regex(NAME, "must be letters, digits, '-' or '_' (starting with a letter or digit, at most 63)");
const userName = z.string().regex(USER, "must be a Linux user name: lowercase letters, digits, '_', '-', '.' (at most 32)");
const port = z.number().int().min(1).max(65535);
const labelValue = z.union([
  z.boolean(),
  z.number().finite(),
  z.string().regex(LABEL_VALUE, 'label values may only hold letters, digits and _ . : / @ + -'),
]);

const robotSchema = z.strictObject({
  name: robotName,
  ip: ipv4,
  user: userName.optional(),
  port: port.optional(),
  sudo: z.boolean().optional(),
  role: z.enum(['auto', 'manager', 'worker']).default('auto'),
  canBecomeManager: z.boolean().default(true),
  canBecomeLeader: z.boolean().default(true),
  zone: robotName.optional(),
  /** false: may join without the vxlan kernel module (it runs no overlay service). */
  requireOverlay: z.boolean().default(true),
  labels: z
    .record(
      z
        .string()
        .regex(LABEL_KEY, "label names must start with a letter and hold letters, digits, _ . - (provision.labels is provision's own)"),
      labelValue,
    )
    .default({}),
});

export const inventorySchema = z.strictObject({
  defaults: z.strictObject({ user: userName.optional(), port: port.optional(), sudo: z.boolean().default(false) }).default({ sudo: false }),
  swarm: z
    .strictObject({
      managers: z.union([z.literal('auto'), z.number().int().min(1).max(99)]).default('auto'),
      leader: robotName.optional(),
      /** The MTU of the overlay networks provision creates (ingress at init, check's own): auto = the fleet's lowest − 50. */
      overlayMtu: z.union([z.literal('auto'), z.number().int().min(576).max(9000)]).optional(),
      init: z
        .strictObject({
          listenAddr: z
            .string()
            .regex(/^[0-9.]+(:\d{1,5})?$|^[a-z0-9]+(:\d{1,5})?$/, 'must be an address or interface, optionally with :port')
            .optional(),
          availability: z.enum(['active', 'pause', 'drain']).optional(),
          snapshotInterval: z.number().int().min(1).optional(),
          maxSnapshots: z.number().int().min(0).optional(),
        })
        .default({}),
    })
    .default({ managers: 'auto', init: {} }),
  robots: z.array(robotSchema).min(1, 'must list at least one robot'),
  /** Robots `provision remove` took out: every run that reaches a robot withdraws their keys from it. */
  retired: z.array(robotName).default([]),
});

export type InventoryFile = z.infer<typeof inventorySchema>;

/** Per-host settings from the operator's ~/.ssh/config: ConnectTimeout, ServerAliveInterval, StrictHostKeyChecking, the known_hosts files. */
export interface SshTuning {
  connectTimeoutSeconds?: number;
  keepaliveSeconds?: number;
  strictHostKeyChecking?: string;
  /** UserKnownHostsFile / GlobalKnownHostsFile, expanded; [] for `none`; unset: ssh's defaults. */
  userKnownHostsFiles?: string[];
  globalKnownHostsFiles?: string[];
  hashKnownHosts?: boolean;
}

interface SshKeys extends SshTuning {
  identityFiles: string[];
  identitiesOnly: boolean;
}

/** One jump host on the way to a robot (ProxyJump in the operator's ~/.ssh/config). */
export interface SshHop extends SshKeys {
  name: string;
  host: string;
  port: number;
  user: string;
}

/** How the operator's ~/.ssh/config says to reach a robot, beyond user and port. */
export interface RobotSsh extends SshKeys {
  jumps: SshHop[];
}

/** A robot with the defaults applied: what every step works with. */
export interface Robot extends Omit<z.infer<typeof robotSchema>, 'user' | 'port' | 'sudo' | 'requireOverlay'> {
  /** Absent: true. */
  requireOverlay?: boolean;
  user: string;
  port: number;
  sudo: boolean;
  ssh?: RobotSsh;
}

export interface Inventory extends Pick<InventoryFile, 'swarm' | 'retired'> {
  file: string;
  robots: Robot[];
}
