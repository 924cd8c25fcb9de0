// A tts-streamer replica killed (kill -9) in the middle of an utterance: the speak goes to
// another replica after the short ack_wait, which continues after the last frame that went out —
// every frame of the utterance exactly once, one last frame, one TTS_DONE, also when the server
// counts the redelivery as a first delivery — and a later utterance of the same call waits for the
// first to end instead of interleaving with it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { STREAMS, newSessionId, subjects } from '@switchboard/contracts';
import { eventually, sleep, type ChildHandle } from '@switchboard/testkit';
import { cancel, publishAgain, speak, SpawnedReplicas } from './harness';

const LONG = 'Thank you for waiting. Your order left our warehouse this morning and it should reach you within three working days. You will get a text message with the tracking link as soon as the courier has it.';

let sut: SpawnedReplicas;

const replica = (id: string): Promise<ChildHandle> => sut.spawn(id, { LOG_LEVEL: 'info', TTS_ACK_WAIT_MS: '1500' });

before(async () => {
  sut = await SpawnedReplicas.start();
});

after(() => sut?.stop());

/** A replica streams a long utterance of a new call. */
async function streaming(replicaId: string, frames: number): Promise<{ replica: ChildHandle; sessionId: string; cmd: Awaited<ReturnType<typeof speak>> }> {
  const a = await replica(replicaId);
  const sessionId = newSessionId();
  const cmd = await speak(sut.bus, { sessionId, text: LONG });
  await eventually(() => sut.audio.of(sessionId, cmd.speakId).length >= frames, `replica ${replicaId} streams`, 20_000);
  return { replica: a, sessionId, cmd };
}

test('kill -9 mid-utterance: another replica continues after the last frame sent, never from the start', async () => {
  const { replica: a, sessionId, cmd } = await streaming('tts-kill-a', 60);
  const b = await replica('tts-kill-b');
  await a.kill('SIGKILL');
  const cut = sut.audio.of(sessionId, cmd.speakId).length;
  await sut.done(sessionId, cmd.speakId);
  const seqs = sut.seqsOf(sessionId, cmd.speakId);
  assert.ok(seqs.length > cut, `replica b sent the rest (${seqs.length} frames, ${cut} before the kill)`);
  assert.deepEqual(seqs, seqs.map((_, i) => i), 'every frame once, in order: nothing repeated, nothing missing');
  assert.equal(sut.audio.of(sessionId, cmd.speakId).filter((f) => f.frame.last).length, 1, 'one last frame');
  const dones = sut.events.of(sessionId, 'TTS_DONE').filter((e) => e.ttsDone?.speakId === cmd.speakId);
  assert.equal(dones.length, 1);
  assert.equal(dones[0]!.ttsDone!.cancelled, false);
  assert.ok(b.lines.some((l) => l.includes('redelivered speak resumes after the frames already sent')), 'replica b says where it resumed');
  await b.kill('SIGTERM');
});

test('a redelivery the server counts as a first delivery (nats-server 2.9.10) still continues after the last frame sent', async () => {
  // nats-server 2.9.10 hands some redeliveries out with a delivery count of 1 (nats-server#5305,
  // #5338); a CI run had the next replica speak a killed replica's utterance again from frame 0.
  // The copy stored under another dedup id stands in for it: b already waits for work, so the copy
  // (count 1) reaches it before the original's redelivery (count 2, after ack_wait).
  const { replica: a, sessionId, cmd } = await streaming('tts-count1-a', 40);
  const b = await replica('tts-count1-b');
  await a.kill('SIGKILL');
  const cut = sut.audio.of(sessionId, cmd.speakId).length;
  await publishAgain(sut.bus, cmd.command);
  await sut.done(sessionId, cmd.speakId);
  await sleep(300); // a frame sent after TTS_DONE (the original's redelivery spoken again) would show here
  const seqs = sut.seqsOf(sessionId, cmd.speakId);
  assert.ok(seqs.length > cut, `replica b sent the rest (${seqs.length} frames, ${cut} before the kill)`);
  assert.deepEqual(seqs, seqs.map((_, i) => i), 'every frame once, in order: nothing repeated, nothing missing');
  assert.equal(sut.audio.of(sessionId, cmd.speakId).filter((f) => f.frame.last).length, 1, 'one last frame');
  const resumed = b.lines.filter((l) => l.includes('redelivered speak resumes after the frames already sent'));
  assert.ok(resumed.some((l) => l.includes('"delivery":1')), `b resumed the copy it was given as a first delivery: ${resumed.join(' | ') || 'no resume logged'}`);
  await b.kill('SIGTERM');
});

test('kill -9 mid-utterance, its frames aged out of the audio stream before the redelivery: reported cut, never spoken again from frame 0', async () => {
  // The 100-kill pipeline run found a speak whose frames 0–33 went out twice: its redelivery came
  // after the audio stream's max age (10 s; a speak may be spoken up to 15 s late), no frame was
  // readable, and the next replica started again from frame 0. The purge stands in for the age-out.
  const { replica: a, sessionId, cmd } = await streaming('tts-aged-a', 20);
  await a.kill('SIGKILL');
  await sut.bus.jsm.streams.purge(STREAMS.audioOut, { filter: subjects.audioOut(sessionId) });
  const sent = sut.seqsOf(sessionId, cmd.speakId).length;
  const b = await replica('tts-aged-b');
  const d = await sut.done(sessionId, cmd.speakId);
  await sleep(300); // a frame b might send right after its TTS_DONE would show here
  const seqs = sut.seqsOf(sessionId, cmd.speakId);
  assert.deepEqual(seqs, seqs.map((_, i) => i), `no frame repeated (${sent} sent by a before the kill, ${seqs.length} in all)`);
  assert.equal(d.ttsDone!.cancelled, true, 'reported cut: the orchestrator returns to LISTENING after its grace');
  assert.ok(b.lines.some((l) => l.includes('its frames cannot be read')), 'replica b says why it did not speak');
  await b.kill('SIGTERM');
});

test('a later utterance of the call waits for the one another replica streams; a cancelled one does not hold it back', async () => {
  const { replica: a, sessionId, cmd: first } = await streaming('tts-order-a', 10);
  // Later utterances of the call while a streams the first: those a pulls queue behind it (one
  // at a time per session on a replica); those b pulls must wait for a's last frame.
  const b = await replica('tts-order-b');
  const later: Array<Awaited<ReturnType<typeof speak>> & { by: string }> = [];
  for (let k = 0; k < 6 && !later.some((l) => l.by === 'b'); k++) {
    const s = await speak(sut.bus, { sessionId, turnId: `turn_later_${k}`, text: `And one more thing, number ${k}.` });
    const by = await eventually(() => (b.lines.some((l) => l.includes(s.speakId)) ? 'b' : a.lines.some((l) => l.includes(s.speakId)) ? 'a' : undefined), 'a replica took it', 30_000);
    later.push({ ...s, by });
  }
  assert.ok(later.some((l) => l.by === 'b'), 'replica b took one of the later utterances');
  for (const l of later) await sut.done(sessionId, l.speakId);
  const order = sut.audio.of(sessionId).map((f) => f.frame.speakId);
  const firstEnds = order.lastIndexOf(first.speakId);
  for (const l of later) {
    const starts = order.indexOf(l.speakId);
    assert.ok(starts > firstEnds, `${l.speakId} (replica ${l.by}) starts after the first utterance ended (first ends at frame ${firstEnds}, it starts at ${starts})`);
  }

  // A cancelled utterance has no last frame: the next one must not wait for it.
  const third = await speak(sut.bus, { sessionId, turnId: 'turn_third', text: LONG });
  await eventually(() => sut.audio.of(sessionId, third.speakId).length >= 10, 'third streams', 20_000);
  await cancel(sut.bus, sessionId, 'turn_third');
  const cancelledAt = Date.now();
  const fourth = await speak(sut.bus, { sessionId, turnId: 'turn_fourth', text: 'Yes?' });
  await eventually(() => sut.audio.of(sessionId, fourth.speakId).length > 0, 'fourth streams', 20_000);
  assert.ok(Date.now() - cancelledAt < 1_200, `the next utterance was not held back by the cancelled one (${Date.now() - cancelledAt} ms)`);
  await a.kill('SIGTERM');
  await b.kill('SIGTERM');
});
