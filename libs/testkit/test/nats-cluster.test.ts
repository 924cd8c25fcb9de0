import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamManager, StreamInfo } from '@nats-io/jetstream';
import { sleep, startNatsCluster } from '@switchboard/testkit';

/** Retries `fn` until it succeeds or the budget runs out (leader elections take a moment). */
async function eventually<T>(fn: () => Promise<T>, budgetMs = 15_000): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
}

async function allReplicasCurrent(jsm: JetStreamManager, stream: string, expectNames: string[]): Promise<StreamInfo> {
  const info = await jsm.streams.info(stream);
  const names = [info.cluster?.leader, ...(info.cluster?.replicas ?? []).filter((r) => r.current && !r.offline).map((r) => r.name)];
  for (const n of expectNames) if (!names.includes(n)) throw new Error(`${n} not current yet: ${JSON.stringify(info.cluster)}`);
  return info;
}

void describe('startNatsCluster', () => {
  void it('forms a 3-node JetStream cluster; an R3 stream survives a killed node, which rejoins on restart', async () => {
    const cluster = await startNatsCluster();
    try {
      assert.equal(cluster.nodes.length, 3);
      assert.equal(cluster.servers, cluster.urls.join(','));
      const leader = await cluster.waitForMetaLeader();
      assert.ok(['n0', 'n1', 'n2'].includes(leader));

      const nc = await connect({ servers: cluster.urls, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
      const jsm = await jetstreamManager(nc);
      const js = jetstream(nc);
      await eventually(() =>
        jsm.streams.add({ name: 'TURNS', subjects: ['turns.>'], storage: StorageType.File, num_replicas: 3 }),
      );
      for (let i = 0; i < 20; i++) await js.publish('turns.a', `before-${i}`);
      const before = await eventually(() => allReplicasCurrent(jsm, 'TURNS', ['n0', 'n1', 'n2']));
      assert.equal(before.state.messages, 20);

      // Kill the stream leader: the hardest single failure for the stream.
      const victimName = before.cluster?.leader;
      const victim = cluster.nodes.find((n) => n.name === victimName);
      assert.ok(victim, `leader ${victimName} is one of our nodes`);
      await victim.kill('SIGKILL');

      for (let i = 0; i < 20; i++) await eventually(() => js.publish('turns.a', `during-${i}`, { timeout: 2000 }));
      const during = await eventually(async () => {
        const info = await jsm.streams.info('TURNS');
        if (!info.cluster?.leader || info.cluster.leader === victimName) throw new Error('no new leader yet');
        return info;
      });
      assert.equal(during.state.messages, 40);
      assert.notEqual(during.cluster?.leader, victimName);
      assert.notEqual(await cluster.waitForMetaLeader(), victimName);

      await victim.restart();
      const after = await eventually(() => allReplicasCurrent(jsm, 'TURNS', ['n0', 'n1', 'n2']));
      assert.equal(after.state.messages, 40);

      // A client connected only to the restarted node reaches the stream through it.
      const direct = await connect({ servers: victim.url });
      const msg = await eventually(async () => {
        const m = await (await jetstreamManager(direct)).streams.getMessage('TURNS', { seq: 40 });
        if (!m) throw new Error('not there yet');
        return m;
      });
      assert.equal(msg.string(), 'during-19');
      await direct.close();
      await nc.close();
    } finally {
      await cluster.stop();
    }
    assert.ok(cluster.nodes.every((n) => !n.running));
  });
});
