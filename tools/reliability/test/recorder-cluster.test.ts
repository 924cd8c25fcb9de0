// The recorder on a 3-node cluster: its ordered consumers are R1 ephemerals, each on one node.
// When that node dies nats.js does not re-create them (the consumer's info times out rather than
// saying "not found"), so the recorder must: the cluster fault run stalled on exactly this.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Bus, provision } from '@switchboard/bus';
import { STREAMS, makeEvent } from '@switchboard/contracts';
import { createLogger } from '@switchboard/telemetry';
import { startNatsCluster, eventually, exclusiveTestFile, type NatsClusterHandle } from '@switchboard/testkit';
import { HistoryRecorder, createRng, seededSessionId } from '@switchboard/reliability';

// kill -9 of a cluster node: never beside another timing-sensitive file on the same cores
await exclusiveTestFile();

let cluster: NatsClusterHandle | undefined;
let bus: Bus | undefined;
let rec: HistoryRecorder | undefined;
after(async () => {
  await rec?.stop();
  await bus?.drain();
  await cluster?.stop();
});

test('the recorder keeps following a stream when the node holding its ordered consumer is killed -9', async () => {
  cluster = await startNatsCluster({ size: 3 });
  const b = (bus = await Bus.connect({ servers: cluster.servers, service: 'recorder-test', log: createLogger({ service: 'test', level: 'error' }), partitions: 16, connectBudgetMs: 30_000 }));
  await provision(b.nc, b.jsm, { replicas: 3 });
  const r = (rec = await HistoryRecorder.start(b, { commands: false }));
  const rng = createRng(5);
  const publish = async (i: number) => {
    const sid = seededSessionId(rng);
    for (let attempt = 1; ; attempt++) {
      try {
        return await b.publishEvent(makeEvent('CALL_STARTED', { sessionId: sid, source: 'test', eventId: `${sid}:${i}` }, {}));
      } catch (err) {
        if (attempt >= 100) throw err; // the stream may be electing a leader
        await new Promise((res) => setTimeout(res, 200));
      }
    }
  };
  for (let i = 0; i < 5; i++) await publish(i);
  await eventually(() => r.events.length === 5, 'the first 5 recorded');

  const consumers: Array<{ name: string; cluster?: { leader?: string } }> = [];
  for await (const ci of b.jsm.consumers.list(STREAMS.events)) consumers.push(ci);
  assert.equal(consumers.length, 1, 'only the recorder reads the stream');
  const host = consumers[0]!.cluster?.leader;
  const node = cluster.nodes.find((n) => n.name === host);
  assert.ok(node, `the ordered consumer's node (${host}) is one of ours`);
  await node.kill('SIGKILL');

  for (let i = 5; i < 10; i++) await publish(i);
  await eventually(() => r.events.length === 10, `the recorder follows after ${host} died (has ${r.events.length}/10)`, 30_000);
  assert.ok(r.restarts >= 1, 'it re-created its ordered consumer');
  assert.deepEqual(r.events.map((e) => e.seq), [...Array(10).keys()].map((i) => i + 1), 'each message once, in order');
});
