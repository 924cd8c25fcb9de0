import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startNatsServer, spawnNode, type NatsServerHandle, type ChildHandle } from '@switchboard/testkit';
import { Bus, PartitionLeases, provision } from '@switchboard/bus';
import { BUCKETS } from '@switchboard/contracts';
import { captureLogger, eventually } from './helpers';

const TTL = 1500;
const P = 8;
const member = fileURLToPath(new URL('./fixtures/lease-member.ts', import.meta.url));
let server: NatsServerHandle;
let bus: Bus;
const { log } = captureLogger();

before(async () => {
  server = await startNatsServer();
  bus = await Bus.connect({ servers: server.url, service: 'lease-test', log, partitions: P });
  await provision(bus.nc, bus.jsm, { leaseTtlMs: TTL });
});
after(async () => {
  await bus?.drain();
  await server?.stop();
});

function ownedOf(child: ChildHandle): Map<number, number> {
  for (let i = child.lines.length - 1; i >= 0; i--) {
    const l = child.lines[i]!;
    if (l.startsWith('{"replicaId"') && l.includes('"owned"')) return new Map((JSON.parse(l) as { owned: Array<[number, number]> }).owned);
  }
  return new Map();
}

test('two processes split the partitions; when one dies the other holds all within the TTL; a paused holder loses its leases', async () => {
  const a = spawnNode(member, { args: [server.url, 'A', String(P), String(TTL)] });
  const b = spawnNode(member, { args: [server.url, 'B', String(P), String(TTL)] });
  try {
    await eventually(() => ownedOf(a).size === P / 2 && ownedOf(b).size === P / 2, 'an even split', 15_000);
    const union = new Set([...ownedOf(a).keys(), ...ownedOf(b).keys()]);
    assert.equal(union.size, P, 'disjoint and complete');

    const killedAt = Date.now();
    await a.kill('SIGKILL');
    await eventually(() => ownedOf(b).size === P, 'B holds every partition', 10_000);
    const takeoverMs = Date.now() - killedAt;
    console.log(`# takeover after kill -9: ${takeoverMs} ms (lease TTL ${TTL} ms)`);
    assert.ok(takeoverMs <= TTL + 1500, `takeover ${takeoverMs} ms`);

    // A stalled holder (SIGSTOP past the TTL) comes back to find its leases gone.
    const c = spawnNode(member, { args: [server.url, 'C', String(P), String(TTL)] });
    try {
      await eventually(() => ownedOf(c).size === P / 2 && ownedOf(b).size === P / 2, 'B and C split', 15_000);
      const cBefore = ownedOf(c);
      process.kill(c.pid, 'SIGSTOP');
      await eventually(() => ownedOf(b).size === P, 'B takes C’s partitions while C is stopped', 10_000);
      const bFences = ownedOf(b);
      for (const [p, oldFence] of cBefore) assert.ok(bFences.get(p)! > oldFence, `partition ${p}: new fence ${bFences.get(p)} > stale ${oldFence}`);
      process.kill(c.pid, 'SIGCONT');
      await c.waitForLine(/"reason":"lost"/, 10_000);
      await eventually(() => ownedOf(c).size === P / 2 && ownedOf(b).size === P / 2, 'a fresh split after C resumes', 15_000);
      const union2 = new Set([...ownedOf(b).keys(), ...ownedOf(c).keys()]);
      assert.equal(union2.size, P);
    } finally {
      await c.kill('SIGKILL');
    }
  } finally {
    await a.kill('SIGKILL').catch(() => undefined);
    await b.kill('SIGKILL').catch(() => undefined);
  }
});

test("a stale holder's CAS write is refused after another replica took the lease", async () => {
  const kv = await bus.kv(BUCKETS.leases);
  const stale = await kv.create('solo.p0', new TextEncoder().encode('{"owner":"stale"}'));
  const acquired: number[] = [];
  const leases = new PartitionLeases({
    kv,
    group: 'solo',
    partitions: 1,
    replicaId: 'fresh',
    ttlMs: TTL,
    log,
    onAcquire: async (_p, fence) => void acquired.push(fence),
    onRelease: async () => undefined,
  });
  await leases.start();
  try {
    await eventually(() => acquired.length === 1, 'the expired lease is taken', 10_000);
    assert.ok(acquired[0]! > stale, 'the fencing token grew');
    await assert.rejects(kv.update('solo.p0', new TextEncoder().encode('{"owner":"stale"}'), stale), /wrong last sequence/);
    assert.ok(leases.isOwner(0, acquired[0]));
  } finally {
    await leases.stop();
  }
});

test('a lost lease whose partition is slow to stop does not hold up renewing the others', async () => {
  const kv = await bus.kv(BUCKETS.leases);
  let finishStopping!: () => void;
  const stopping = new Promise<void>((r) => (finishStopping = r));
  const released: number[] = [];
  const leases = new PartitionLeases({
    kv,
    group: 'slowstop',
    partitions: 2,
    replicaId: 'solo',
    ttlMs: TTL,
    log,
    onAcquire: async () => undefined,
    onRelease: async (p, reason) => {
      released.push(p);
      if (reason === 'lost') await stopping; // a partition draining its work
    },
  });
  await leases.start();
  try {
    await eventually(() => leases.owned().size === 2, 'both partitions held');
    const fence1 = leases.owned().get(1)!;
    await kv.delete('slowstop.p0'); // its next renewal is refused: lost
    await eventually(() => released.includes(0), 'partition 0 lost');
    await new Promise((r) => setTimeout(r, TTL * 2));
    // Before: the renewal tick awaited the drain, so partition 1's key expired as well.
    const e = await kv.get('slowstop.p1');
    assert.ok(e && e.operation === 'PUT' && e.revision > fence1, 'partition 1 still renewed while partition 0 was stopping');
    assert.ok(!leases.isOwner(0), 'partition 0 is not taken again before it has stopped');
    finishStopping();
    await eventually(() => leases.isOwner(0), 'partition 0 taken again once stopped');
  } finally {
    finishStopping();
    await leases.stop();
  }
});
