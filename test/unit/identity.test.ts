// The node a robot reports, judged against the others' reports and the manager's node list.
import { describe, expect, it } from '@jest/globals';
import { falseClaims, sharedClaims, type Claim } from '../../src/plan/identity.js';
import type { NodeInfo } from '../../src/remote/docker.js';

const ROBOTS = [
  { name: 'Anton', ip: '10.0.0.1' },
  { name: 'Ida', ip: '10.0.0.2' },
  { name: 'Emil', ip: '10.0.0.4' },
];
const ipOf = (robot: string) => ROBOTS.find((r) => r.name === robot)?.ip ?? '10.9.9.9';

function claim(robot: string, nodeId: string, extra: Partial<Claim> = {}): Claim {
  return { robot, ip: ipOf(robot), hostname: robot, nodeId, advertised: ipOf(robot), ...extra };
}

function node(id: string, addr: string, hostname: string, extra: Partial<NodeInfo> = {}): NodeInfo {
  return {
    id,
    addr,
    hostname,
    role: 'worker',
    state: 'ready',
    availability: 'active',
    leader: false,
    reachability: null,
    labels: {},
    ...extra,
  };
}

const NODES = [
  node('nodeAnton000000', '10.0.0.1', 'Anton', { role: 'manager', leader: true }),
  node('nodeIda00000000', '10.0.0.2', 'Ida'),
  node('nodeEmil0000000', '10.0.0.4', 'Emil'),
];
const refused = (claims: Claim[], nodes = NODES) => falseClaims(claims, nodes, ROBOTS).map((r) => r.robot);

describe('claims against the node list', () => {
  it("every robot reporting its own node (at its address) is trusted, a node's hostname aside", () => {
    expect(refused([claim('Anton', 'nodeAnton000000'), claim('Ida', 'nodeIda00000000'), claim('Emil', 'nodeEmil0000000')])).toEqual([]);
    // robots cloned from one image share a hostname: the address decides
    const clones = [node('nodeIda00000000', '10.0.0.2', 'Ida'), node('nodeEmil0000000', '10.0.0.4', 'Ida')];
    expect(refused([claim('Ida', 'nodeIda00000000'), claim('Emil', 'nodeEmil0000000', { hostname: 'Ida' })], clones)).toEqual([]);
  });

  it("a robot reporting the node the swarm has at another robot's address is refused, naming both and both identities", () => {
    const [r, ...rest] = falseClaims([claim('Emil', 'nodeIda00000000', { hostname: 'Ida' })], NODES, ROBOTS);
    expect(rest).toEqual([]);
    expect(r?.robot).toBe('Emil');
    expect(r?.nodeId).toBe('nodeIda00000000');
    expect(r?.why).toMatch(
      /reports swarm node nodeIda00000, which is Ida's: the swarm has node nodeIda00000 at 10\.0\.0\.2 with hostname Ida/,
    );
    expect(r?.why).toMatch(
      /Emil is at 10\.0\.0\.4 with hostname Ida\. Nothing is done to that node, nor to any other node of Emil or Ida\./,
    );
    expect(r?.why).toMatch(/copy of Ida's \/var\/lib\/docker\/swarm: on Emil, stop docker, remove \/var\/lib\/docker\/swarm, start docker/);
  });

  it('a node that is down is still judged by the address it was last seen at', () => {
    const down = [node('nodeIda00000000', '10.0.0.2', 'Ida', { state: 'down' })];
    expect(refused([claim('Ida', 'nodeIda00000000')], down)).toEqual([]);
    expect(falseClaims([claim('Emil', 'nodeIda00000000')], down, ROBOTS)[0]?.why).toMatch(/at 10\.0\.0\.2 with hostname Ida \(down\)/);
  });

  it("a robot whose engine advertises another robot's address holds that robot's swarm state, though the swarm now shows the copy", () => {
    // measured on docker 20.10: a copy that connects moves the node to its own address and hostname
    const flipped = [node('nodeIda00000000', '10.0.0.4', 'Emil')];
    const [r] = falseClaims([claim('Emil', 'nodeIda00000000', { advertised: '10.0.0.2' })], flipped, ROBOTS);
    expect(r?.robot).toBe('Emil');
    expect(r?.why).toMatch(/its engine advertises 10\.0\.0\.2, Ida's address, and the swarm has node nodeIda00000 at 10\.0\.0\.4/);
    expect(r?.why).toMatch(/of Emil or Ida\./);
  });

  it('an advertise address that is no robot of the fleet (another interface) is not held against it', () => {
    expect(refused([claim('Ida', 'nodeIda00000000', { advertised: '192.168.5.2' })])).toEqual([]);
  });

  it('a node at no address of the fleet (0.0.0.0, another interface): its hostname decides', () => {
    const elsewhere = [node('nodeIda00000000', '', 'Ida'), node('nodeEmil0000000', '192.168.5.4', 'Emil')];
    expect(refused([claim('Ida', 'nodeIda00000000'), claim('Emil', 'nodeEmil0000000')], elsewhere)).toEqual([]);
    const [r] = falseClaims([claim('Anton', 'nodeIda00000000')], elsewhere, ROBOTS);
    expect(r?.why).toMatch(
      /reports swarm node nodeIda00000, which is not its own: the swarm has node nodeIda00000 at no known address with hostname Ida; Anton is at 10\.0\.0\.1 with hostname Anton/,
    );
    expect(r?.why).toMatch(/nor to any other node of Anton\. If Anton holds a copy of another node's/);
  });

  it('a node not in the list is no question of identity (a foreign swarm: judged elsewhere)', () => {
    expect(refused([claim('Emil', 'nodeOfAnotherSwarm')])).toEqual([]);
  });
});

describe('robots sharing one node ID', () => {
  it('every one of them is refused, each naming the others; nothing else is', () => {
    const refusals = sharedClaims([claim('Anton', 'n1'), claim('Ida', 'n2'), claim('Emil', 'n2', { hostname: 'Ida' }), claim('Otto', '')]);
    expect(refusals.map((r) => [r.robot, r.nodeId])).toEqual([
      ['Ida', 'n2'],
      ['Emil', 'n2'],
    ]);
    expect(refusals[0]?.why).toMatch(/^reports swarm node n2, as Emil does: one holds a copy of the other's \/var\/lib\/docker\/swarm/);
    expect(refusals[0]?.why).toMatch(/Nothing is done to that node, nor to any other node of Ida or Emil\./);
    expect(refusals[1]?.why).toMatch(/as Ida does/);
  });

  it('the copy is named when its engine advertises the address of the robot it was copied from', () => {
    const refusals = sharedClaims([claim('Ida', 'n2'), claim('Emil', 'n2', { advertised: '10.0.0.2' })]);
    for (const r of refusals)
      expect(r.why).toMatch(/Emil's engine advertises 10\.0\.0\.2, Ida's address: Emil holds the copy\. On the copy: stop docker/);
  });

  it('three robots with one node ID: each names the two others', () => {
    const refusals = sharedClaims([claim('Anton', 'n1'), claim('Ida', 'n1'), claim('Emil', 'n1')]);
    expect(refusals.map((r) => r.why.split(':')[0])).toEqual([
      'reports swarm node n1, as Ida and Emil do',
      'reports swarm node n1, as Anton and Emil do',
      'reports swarm node n1, as Anton and Ida do',
    ]);
  });
});
