// The one `--json` contract, for every command: checked by the tests, exported as
// docs/provision.schema.json (`npm run schema`).
import { z } from 'zod';
import type { InputProblem } from '../inputError.js';

export const COMMANDS = [
  'keys',
  'swarm',
  'up',
  'check',
  'status',
  'rotate',
  'remove',
  'reset',
  'recover',
  'roles',
  'init',
  'context',
] as const;
export type CommandName = (typeof COMMANDS)[number];

const robotResult = z.strictObject({
  name: z.string(),
  ip: z.string(),
  status: z
    .enum(['changed', 'joined', 'ok', 'unreachable', 'failed', 'interrupted'])
    .describe('what this run did on the robot, or why it could not'),
  role: z.string().optional().describe('manager or worker, where the command decides or reads roles'),
  details: z.array(z.string()).describe('what changed (or would change), or why it failed'),
});

const node = z.looseObject({
  id: z.string(),
  hostname: z.string(),
  role: z.enum(['manager', 'worker']),
  state: z.string(),
  availability: z.string(),
  addr: z.string(),
  leader: z.boolean(),
  reachability: z.string().nullable(),
  labels: z.record(z.string(), z.string()),
  robot: z.string().nullable(),
});

const swarm = z
  .looseObject({
    clusterId: z.string().nullable(),
    initialisedOn: z.string().nullable().describe('the robot docker swarm init ran on in this run'),
    managers: z.array(z.string()),
    leader: z.string().nullable(),
    leaderNow: z.string().nullable(),
    handOver: z.strictObject({ from: z.string(), to: z.string() }).nullable(),
    notes: z.array(z.string()),
    faultTolerance: z.number().int().nullable(),
    warnings: z.array(z.string()),
    nodes: z.array(node),
  })
  .describe('provision swarm: the plan and the swarm as docker node ls shows it');

const fleetStatus = z
  .strictObject({
    clusterId: z.string().nullable(),
    robots: z.array(
      z.strictObject({
        name: z.string(),
        ip: z.string(),
        reachable: z.boolean(),
        swarmState: z.string(),
        nodeId: z.string().nullable(),
        role: z.enum(['manager', 'worker']).nullable(),
        leader: z.boolean(),
        nodeState: z.string().nullable(),
        availability: z.string().nullable(),
        labels: z.record(z.string(), z.string()),
      }),
    ),
    managers: z.number().int(),
    reachableManagers: z.number().int(),
    quorum: z.boolean(),
    failuresToleratedNow: z.number().int(),
    failuresToleratedByDesign: z.number().int(),
    drift: z
      .strictObject({
        nodes: z.array(z.strictObject({ id: z.string(), hostname: z.string(), addr: z.string(), role: z.string(), state: z.string() })),
        blocks: z.record(z.string(), z.array(z.string())),
      })
      .describe(
        'what the swarm and the managed blocks hold that the inventory does not: nodes of no inventory robot; per robot, the robots its blocks still trust',
      ),
  })
  .describe('provision status: every robot as the swarm sees it, and quorum now');

const mesh = z
  .strictObject({
    robots: z.number().int(),
    verified: z.array(z.string()),
    failed: z.record(z.string(), z.string()).describe('robot to blame: why'),
    logins: z.number().int().describe('ssh logins the check made'),
  })
  .describe('provision keys: the SSH mesh check (absent in a dry run, with --no-verify or one robot)');

const finding = z.strictObject({
  check: z.string().describe('clock, tcp, mtu, path-mtu, vxlan, ip_vs, engine, machine-id, forwarding, ping'),
  severity: z.enum(['fail', 'note']).describe('fail: those robots were failed before joining; note: a degraded swarm'),
  robots: z.array(z.string()),
  measured: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  text: z.string(),
});

const preflight = z
  .looseObject({
    lowestMtu: z.number().int().nullable(),
    neededOverlayMtu: z.number().int().nullable(),
    overlayMtu: z.number().int().nullable().describe("the MTU of the overlays provision creates; null: Docker's default 1450"),
    findings: z.array(finding),
    readings: z.array(z.looseObject({ robot: z.string(), offsetS: z.number().nullable(), mtu: z.number().nullable() })),
    tcpProbes: z.array(z.strictObject({ from: z.string(), to: z.string(), port: z.number().int(), result: z.string() })),
    pathMtus: z.array(z.strictObject({ from: z.string(), to: z.string(), mtu: z.number().int() })),
  })
  .describe('check --preflight, check: what the robots share (clock, ports, MTU, kernel, engine)');

const check = z
  .strictObject({
    summary: z
      .looseObject({
        robots: z.number().int(),
        ranTask: z.number().int(),
        pairs: z.number().int(),
        pairsPassed: z.number().int(),
        mtu: z.number().int(),
        movedInS: z.number().nullable(),
      })
      .nullable(),
    pairs: z.array(
      z.strictObject({
        from: z.string(),
        to: z.string(),
        small: z.number().int(),
        big: z.number().int(),
        verdict: z.enum(['passed', 'no-connection', 'stalled']),
      }),
    ),
    notes: z.array(z.string()),
    failed: z.boolean().describe('a proof failed that no robot is blamed for (the task did not move …)'),
  })
  .describe('provision check, up --check: the proof on the formed swarm');

const dockerContext = z
  .strictObject({
    name: z.string().describe('provision-<fleet>: the inventory file name without extension'),
    host: z.string().nullable().describe('ssh://user@ip of the manager it points at; null: no reachable manager'),
    robot: z.string().nullable(),
    leader: z.boolean(),
    change: z.enum(['create', 'move', 'keep', 'none']),
    previous: z.string().nullable().describe('where it pointed before this run'),
    why: z.string().nullable(),
    used: z.boolean().describe('--use made it the current context'),
    docker: z.boolean().describe('false: no docker CLI on this laptop; dockerHost is the line to use'),
    dockerHost: z.string().nullable().describe('DOCKER_HOST=ssh://… for a client without contexts'),
    works: z.boolean().nullable().describe('docker --context NAME info answered as a manager; null: not tried'),
    problem: z.string().nullable(),
  })
  .describe('provision context: the docker context on this laptop');

export const runResultSchema = z
  .strictObject({
    command: z.enum(COMMANDS),
    dryRun: z.boolean(),
    exitCode: z
      .union([z.literal(0), z.literal(1), z.literal(130)])
      .describe('0 every robot done; 1 some robot unreachable or failed; 130 interrupted (Ctrl-C)'),
    robots: z.array(robotResult).describe('every robot of the inventory, in its order'),
    notes: z.array(z.string()).describe('about the run as a whole'),
    mesh: mesh.optional(),
    swarm: swarm.optional(),
    status: fleetStatus.optional(),
    preflight: preflight.optional(),
    check: check.optional(),
    context: dockerContext.optional(),
    inventory: z.string().optional().describe('provision init: the file written'),
  })
  .describe('a run that contacted the robots (or, for init, wrote the inventory)');

export const inputErrorsSchema = z
  .strictObject({
    command: z.string().nullable().describe('null when the command itself is unknown or missing'),
    exitCode: z.literal(2),
    errors: z
      .array(
        z.strictObject({
          line: z.number().int().optional().describe('line in the inventory file'),
          robot: z.string().optional(),
          field: z.string().optional().describe('inventory field, e.g. ip or swarm.leader'),
          message: z.string(),
        }),
      )
      .min(1),
  })
  .describe('bad input (inventory, flags): refused before any prompt or connection');

export const provisionJsonSchema = z.union([runResultSchema, inputErrorsSchema]);
export type RunResultJson = z.infer<typeof runResultSchema>;
export type FleetStatus = z.infer<typeof fleetStatus>;

export function jsonSchemaDocument(): object {
  return {
    $id: 'https://github.com/robot-fleet/provision/blob/main/docs/provision.schema.json',
    title: 'provision --json',
    ...z.toJSONSchema(provisionJsonSchema, { target: 'draft-2020-12' }),
  };
}

export function inputErrorsJson(command: string | null, errors: InputProblem[]): object {
  return { command, exitCode: 2, errors };
}
