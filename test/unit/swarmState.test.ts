import { describe, expect, it } from '@jest/globals';
import { clonedEngines, type Member } from '../../src/steps/swarmState.js';
import type { RobotConnection } from '../../src/ssh/connection.js';
import type { Robot } from '../../src/inventory/schema.js';

function member(name: string, engineId: string, nodeId: string, state = 'active'): Member {
  const robot: Robot = {
    name,
    ip: '10.0.0.1',
    user: 'u',
    port: 22,
    sudo: false,
    role: 'auto',
    canBecomeManager: true,
    canBecomeLeader: true,
    labels: {},
  };
  return {
    robot,
    conn: {} as RobotConnection,
    facts: {
      arch: 'x86_64',
      cpus: 1,
      memKb: 1,
      hostname: 'same-hostname',
      engineId,
      dockerError: null,
      tokens: { dirMode: null, files: {}, leftovers: false },
      swarm: { NodeID: nodeId, NodeAddr: '', LocalNodeState: state, ControlAvailable: false, Error: '', RemoteManagers: null },
    },
  };
}

describe('cloned engines', () => {
  it('a shared hostname alone is no clone', () => {
    expect(clonedEngines([member('Ida', 'E1', 'n1'), member('Otto', 'E2', 'n2')])).toEqual([]);
  });

  it("names every later robot with an earlier robot's engine ID, in a swarm or not", () => {
    expect(clonedEngines([member('Anton', 'E1', 'n1'), member('Ida', 'E1', 'n2'), member('Otto', 'E1', '', 'inactive')])).toEqual([
      { robot: 'Ida', sameAs: 'Anton' },
      { robot: 'Otto', sameAs: 'Anton' },
    ]);
  });

  it('a shared node ID is no engine clone (sharedClaims in src/plan/identity.ts judges it)', () => {
    expect(clonedEngines([member('Anton', 'E1', 'n1'), member('Ida', 'E2', 'n1')])).toEqual([]);
  });
});
