// kill -9 of the replica serving a call right after it announced the end of an utterance
// (SPEECH_ENDED) and before its final: the final was still being decoded. The replica that takes
// the partition over sees that the utterance has no STT_FINAL, reads the call's audio back from
// its onset and transcribes it — the final is delivered once, with the utterance's own index.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { DeliverPolicy } from '@nats-io/jetstream';
import { startNatsServer, spawnNode, eventually, exclusiveTestFile, type ChildHandle, type NatsServerHandle } from '@switchboard/testkit';
import { EventType, STREAMS, decodeEvent, newSessionId, partitionOf } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import { concatAudio, silence, synthesizeFixture, wordErrorRate } from '@switchboard/speech';
import { EventRecorder, PARTITIONS, adapterEnv, producerBus, streamAudio } from './harness';

// timing-sensitive: never beside another such file on the same cores
await exclusiveTestFile();

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

let server: NatsServerHandle;
let bus: Bus;
let rec: EventRecorder;
const procs: ChildHandle[] = [];

after(async () => {
  for (const p of procs) await p.kill('SIGKILL').catch(() => undefined);
  await rec?.stop();
  await bus?.drain();
  await server?.stop();
});

function startReplica(id: string): ChildHandle {
  const child = spawnNode(MAIN, { env: { ...adapterEnv(server.url, { STT_WORKERS: '1', STT_POOL_MAX: '2', STT_SESSION_IDLE_MS: '5000', LEASE_TTL_MS: '1000' }), REPLICA_ID: id } });
  procs.push(child);
  return child;
}

async function owned(child: ChildHandle): Promise<number[]> {
  const ready = await child.waitForLine(/stt-adapter ready/, 60_000);
  const r = await fetch(`http://127.0.0.1:${(JSON.parse(ready) as { port: number }).port}/sessions`);
  return ((await r.json()) as { partitions: number[] }).partitions;
}

test('a final still decoding when its replica is killed is delivered by the replica that takes over', async (t) => {
  server = await startNatsServer();
  bus = await producerBus(server.url, 1000);
  rec = await EventRecorder.start(bus);
  const a = startReplica('stt-fin-a');
  await eventually(async () => (await owned(a)).length === PARTITIONS, 'replica A owns every partition', 20_000);
  const b = startReplica('stt-fin-b');
  await eventually(async () => (await owned(a)).length === PARTITIONS / 2 && (await owned(b)).length === PARTITIONS / 2, 'partitions split', 20_000);
  const ofA = new Set(await owned(a));
  let sessionId = newSessionId();
  while (!ofA.has(partitionOf(sessionId, PARTITIONS))) sessionId = newSessionId();

  // Stop A the instant its SPEECH_ENDED for the first utterance is stored (SIGSTOP in the
  // delivery callback, then kill -9): its final is still in the decoder.
  let stoppedAt = 0;
  const watch = await (await bus.js.consumers.get(STREAMS.events, { deliver_policy: DeliverPolicy.New, filter_subjects: `voice.evt.*.${sessionId}.>` })).consume({
    callback: (m) => {
      if (stoppedAt === 0 && decodeEvent(m.data).eventType === 'SPEECH_ENDED') {
        process.kill(a.pid, 'SIGSTOP');
        stoppedAt = Date.now();
        void a.kill('SIGKILL');
      }
    },
  });
  const text = 'where is my order';
  const speech = await synthesizeFixture(text, 'flite:slt');
  await streamAudio(bus, sessionId, concatAudio(silence(500), speech, silence(4000)), { speed: 1 });
  await watch.close();
  assert.ok(stoppedAt > 0, 'replica A was stopped at SPEECH_ENDED');
  const finalsBeforeKill = rec.of(sessionId, EventType.STT_FINAL).filter((f) => f.at <= stoppedAt).length;
  if (finalsBeforeKill > 0) t.diagnostic('the final left replica A before the kill: nothing was pending (the race was lost this time)');

  const finals = await eventually(() => {
    const f = rec.of(sessionId, EventType.STT_FINAL);
    return f.length > 0 ? f : undefined;
  }, 'the utterance is transcribed', 30_000);
  await new Promise((r) => setTimeout(r, 1_000));
  const all = rec.of(sessionId, EventType.STT_FINAL);
  t.diagnostic(`final "${finals[0]!.event.sttFinal!.text}" ${finals[0]!.at - stoppedAt} ms after replica A was stopped; B said: ${b.lines.filter((l) => l.includes('heard again')).length} utterance(s) heard again`);
  assert.equal(all.length, 1, 'one final');
  assert.equal(all[0]!.event.sttFinal!.utterance, 0, "the utterance's own index");
  assert.ok(wordErrorRate(text, all[0]!.event.sttFinal!.text).wer <= 0.25, `transcribed from its onset: "${all[0]!.event.sttFinal!.text}"`);
  if (finalsBeforeKill === 0) assert.ok(b.lines.some((l) => l.includes('utterance without a final heard again from its onset')), 'replica B heard it again');
});
