// tts-streamer replicas SIGSTOPped for longer than ack_wait (the pipeline slow-consumer run, seed
// 11): the server hands the speak to another replica, and the frozen one, once resumed, must not
// stream it too — nor hand it back, since its nak would act on the other replica's delivery
// (nats-server matches acks and naks by stream sequence, not by delivery) and give it to a third.
// ack_wait is set above the 5 s pull expiry so that while a replica is frozen the redelivery can
// only go to the replica that is running (the frozen one's pull requests have expired).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { STREAMS, newSessionId } from '@switchboard/contracts';
import { eventually, exclusiveTestFile, sleep, type ChildHandle } from '@switchboard/testkit';
import { SPEAK_CONSUMER } from '@switchboard/tts-streamer';
import { speak, SpawnedReplicas } from './harness';

// timing-sensitive (a process is stopped for seconds): never beside another such file
await exclusiveTestFile();

const ACK_WAIT_MS = 6_000;
const LONG = 'Thank you for waiting. Your order left our warehouse this morning and it should reach you within three working days. You will get a text message with the tracking link as soon as the courier has it.';

let sut: SpawnedReplicas;

const replica = (id: string): Promise<ChildHandle> => sut.spawn(id, { LOG_LEVEL: 'debug', TTS_ACK_WAIT_MS: String(ACK_WAIT_MS), TTS_SPEAK_MAX_AGE_MS: '60000' }, `/tmp/tts-frozen-${id}.log`);

before(async () => {
  sut = await SpawnedReplicas.start();
});

after(() => sut?.stop());

/** The deliveries each replica logged for a speak (the tts logs every speak outcome with `delivery`). */
const deliveriesOf = (child: ChildHandle, speakId: string): number[] =>
  child.lines.filter((l) => l.includes(speakId) && l.includes('"delivery":')).map((l) => Number(/"delivery":(\d+)/.exec(l)![1]));

function assertOnce(sessionId: string, speakId: string): void {
  const seqs = sut.seqsOf(sessionId, speakId);
  const twice = seqs.filter((q, i) => seqs.indexOf(q) !== i);
  assert.deepEqual(twice.slice(0, 10), [], `no frame sent twice (${twice.length} were; ${seqs.length} frames in all)`);
  assert.deepEqual([...seqs].sort((a, b) => a - b), seqs.map((_, i) => i), 'frames 0..n, nothing missing');
  assert.equal(sut.audio.of(sessionId, speakId).filter((f) => f.frame.last).length, 1, 'one last frame');
}

test('frozen mid-utterance past ack_wait: the other replica continues after the last frame; the frozen one neither streams on nor hands the speak back', async () => {
  const a = await replica('tts-frozen-a');
  const sessionId = newSessionId();
  const cmd = await speak(sut.bus, { sessionId, text: LONG });
  await eventually(() => sut.audio.of(sessionId, cmd.speakId).length >= 40, 'replica a streams', 20_000);
  const b = await replica('tts-frozen-b');
  process.kill(a.pid, 'SIGSTOP');
  // b takes it once ack_wait has passed and resumes after a's last frame
  await eventually(() => b.lines.some((l) => l.includes(cmd.speakId) && l.includes('resumes after the frames already sent')), 'replica b resumes the speak', ACK_WAIT_MS + 10_000);
  await sleep(500);
  process.kill(a.pid, 'SIGCONT');
  const d = await sut.done(sessionId, cmd.speakId);
  await sleep(1_000); // anything a sends after waking, or a third delivery, shows by now
  assertOnce(sessionId, cmd.speakId);
  assert.equal(d.ttsDone!.cancelled, false);
  // The old code nak'ed here ("handed back"), which the server applied to b's delivery: a third
  // delivery, streamed beside b's when it went to a (turn_38 / turn_163 of the slow-consumer run).
  const all = [...deliveriesOf(a, cmd.speakId), ...deliveriesOf(b, cmd.speakId)];
  assert.ok(Math.max(...all) <= 2, `delivered twice at most (deliveries logged: ${all.join(',')})`);
  assert.ok(a.lines.some((l) => l.includes(cmd.speakId) && l.includes('left to the server')), 'replica a says it left the speak to the server');
  await a.kill('SIGTERM');
  await b.kill('SIGTERM');
});

test('a speak sent to a replica while it was frozen, read after ack_wait: not streamed by it, only by the replica it was redelivered to', async () => {
  // turn_104 of the slow-consumer run (turn_137 of the run before): the server put the speak into
  // the frozen replica's socket; when the replica woke and read it, its ack_wait had long run
  // (counted from the send) and the other replica was streaming it. The old code counted from the
  // read, streamed it from frame 0 beside the other replica.
  const a = await replica('tts-unread-a');
  process.kill(a.pid, 'SIGSTOP');
  const sessionId = newSessionId();
  const cmd = await speak(sut.bus, { sessionId, text: LONG });
  // a's pull request was waiting: the server sent it the speak (unacked, pending on a)
  await eventually(async () => (await sut.bus.jsm.consumers.info(STREAMS.cmd.tts, SPEAK_CONSUMER)).num_ack_pending === 1, 'the speak was delivered to frozen a', 5_000);
  const b = await replica('tts-unread-b');
  await eventually(() => sut.audio.of(sessionId, cmd.speakId).length >= 20, 'replica b streams the redelivered speak', ACK_WAIT_MS + 15_000);
  process.kill(a.pid, 'SIGCONT');
  await sut.done(sessionId, cmd.speakId);
  await sleep(1_000);
  assertOnce(sessionId, cmd.speakId);
  assert.ok(a.lines.some((l) => l.includes('message read after a stall longer than ack_wait')), 'replica a saw it read the speak too late');
  await a.kill('SIGTERM');
  await b.kill('SIGTERM');
});
