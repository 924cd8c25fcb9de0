// The pure parts of the media layer: RTP parsing, the caller-frame assembler (gap filling),
// the agent playout queue (flush, fade, played durations), the send clock and the RTP sender.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Decoder } from '@evan/opus';
import { createAgentPlayout } from '../src/media/agent-playout';
import { createAgentSender } from '../src/media/agent-sender';
import type { CallerFrame } from '../src/media/caller-audio';
import { createCallerAudioAssembler } from '../src/media/caller-audio';
import { buildRtp, OPUS_SILENCE_FRAME, parseRtp } from '../src/media/rtp';
import { createSendClock } from '../src/media/send-clock';

const frameOf = (value: number): Buffer => {
  const b = Buffer.alloc(640);
  for (let i = 0; i < 320; i++) b.writeInt16LE(value, i * 2);
  return b;
};

describe('parseRtp', () => {
  it('skips CSRCs, the header-extension block and padding', () => {
    const payload = Buffer.from([1, 2, 3, 4, 5]);
    const csrc = Buffer.alloc(8, 0xaa);
    const ext = Buffer.from([0xbe, 0xde, 0x00, 0x02, 0x10, 0xff, 0x00, 0x00, 0x22, 0x01, 0x02, 0x00]);
    const pad = Buffer.from([0, 0, 3]);
    const header = Buffer.alloc(12);
    header[0] = 0x80 | 0x20 | 0x10 | 2; // V=2, P, X, CC=2
    header[1] = 0x80 | 100;
    header.writeUInt16BE(65535, 2);
    header.writeUInt32BE(123456, 4);
    header.writeUInt32BE(0xdeadbeef, 8);
    const v = parseRtp(Buffer.concat([header, csrc, ext, payload, pad]));
    assert.ok(v);
    assert.deepEqual([...v.payload], [1, 2, 3, 4, 5]);
    assert.equal(v.payloadType, 100);
    assert.equal(v.marker, true);
    assert.equal(v.sequenceNumber, 65535);
    assert.equal(v.ssrc, 0xdeadbeef);
    assert.equal(parseRtp(Buffer.alloc(5)), undefined);
  });
});

describe('caller audio assembler', () => {
  function setup() {
    const frames: CallerFrame[] = [];
    let decodeCalls = 0;
    const a = createCallerAudioAssembler({
      // Fake decoder: the payload's first byte becomes the sample value of a 20 ms frame.
      decode: (p) => {
        decodeCalls++;
        return frameOf(p[0]!);
      },
      resetDecoder: () => {},
      onFrame: (f) => frames.push(f),
      stallFillMs: 100,
    });
    const pkt = (seq: number, ts: number, v: number, ssrc = 1) => ({
      payloadType: 100, marker: false, sequenceNumber: seq, timestamp: ts >>> 0, ssrc, payload: Buffer.from([v]),
    });
    return { a, frames, pkt, decodes: () => decodeCalls };
  }

  it('emits exact 640-byte frames with contiguous seq/audioMs and fills lost packets with silence', () => {
    const { a, frames, pkt } = setup();
    const ts0 = 0xffffff00; // wraps during the test
    a.onPacket(pkt(10, ts0, 1), 0);
    a.onPacket(pkt(11, ts0 + 960, 2), 20);
    // seq 12, 13 lost
    a.onPacket(pkt(14, ts0 + 4 * 960, 5), 80);
    assert.deepEqual(frames.map((f) => f.seq), [0, 1, 2, 3, 4]);
    assert.deepEqual(frames.map((f) => f.audioMs), [0, 20, 40, 60, 80]);
    assert.ok(frames.every((f) => f.pcm.length === 640 && f.sampleRate === 16000));
    assert.deepEqual(frames.map((f) => f.pcm.readInt16LE(0)), [1, 2, 0, 0, 5]);
    assert.deepEqual(frames.map((f) => f.filledSamples), [0, 0, 320, 320, 0]);
    assert.equal(a.stats.filledMs, 40);
  });

  it('drops duplicates and packets whose slot already passed', () => {
    const { a, frames, pkt, decodes } = setup();
    a.onPacket(pkt(1, 0, 1), 0);
    a.onPacket(pkt(2, 960, 2), 20);
    a.onPacket(pkt(2, 960, 2), 21); // duplicate
    a.onPacket(pkt(1, 0, 1), 22); // reordered, late
    assert.equal(frames.length, 2);
    assert.equal(decodes(), 2);
    assert.equal(a.stats.lateDropped, 2);
  });

  it('keeps frames flowing in real time when packets stall, then resumes without double counting', () => {
    const { a, frames, pkt } = setup();
    a.onPacket(pkt(1, 0, 1), 0);
    a.onTick(100); // within stallFillMs + 20: nothing
    assert.equal(frames.length, 1);
    a.onTick(300); // 300 ms since the last packet: silence up to now − stallFillMs
    const afterStall = frames.length;
    assert.ok(afterStall >= 9 && afterStall <= 10, `stall frames ${afterStall}`);
    // Packets resume at their real timestamps (340 ms after the first).
    a.onPacket(pkt(18, 17 * 960, 7), 340);
    const last = frames.at(-1)!;
    assert.equal(last.pcm.readInt16LE(0), 7);
    assert.equal(last.audioMs, 17 * 20, 'timeline stays the caller\'s');
    // A packet from inside the stall window arrives late: dropped.
    a.onPacket(pkt(5, 4 * 960, 3), 341);
    assert.equal(frames.at(-1), last);
  });
});

describe('agent playout', () => {
  it('reports started/done with the real played duration and pads a partial last chunk', () => {
    const p = createAgentPlayout();
    assert.equal(p.push({ pcm16k: Buffer.concat([frameOf(100), frameOf(100), frameOf(100).subarray(0, 100)]), turnId: 't1', speakId: 's1' }), 'queued');
    assert.equal(p.queuedFrames, 2, 'partial tail held');
    p.push({ pcm16k: frameOf(100).subarray(0, 300), turnId: 't1', speakId: 's1', last: true });
    assert.equal(p.queuedFrames, 3);
    const n1 = p.next();
    assert.equal(n1.kind, 'speech');
    assert.deepEqual(n1.events, [{ type: 'started', turnId: 't1', speakId: 's1' }]);
    assert.deepEqual(p.next().events, []);
    const n3 = p.next();
    assert.equal(n3.kind, 'speech');
    if (n3.kind === 'speech') {
      assert.equal(n3.pcm.readInt16LE(0), 100);
      assert.equal(n3.pcm.readInt16LE(398), 100);
      assert.equal(n3.pcm.readInt16LE(400), 0, "padded with silence");
    }
    assert.deepEqual(n3.events, [{ type: 'done', turnId: 't1', speakId: 's1', durationMs: 60, interrupted: false }]);
    assert.equal(p.next().kind, 'silence');
  });

  it('flush fades ≤5 ms, empties the queue at once, and drops later frames of that turn', () => {
    const p = createAgentPlayout();
    p.push({ pcm16k: Buffer.concat(Array.from({ length: 50 }, () => frameOf(10000))), turnId: 't1', speakId: 's1' });
    p.push({ pcm16k: frameOf(5), turnId: 't2', speakId: 's2' });
    for (let i = 0; i < 10; i++) p.next();
    const r = p.flush({ turnId: 't1', fadeMs: 5 });
    assert.equal(r.droppedFrames, 40);
    assert.deepEqual(r.events, [{ type: 'done', turnId: 't1', speakId: 's1', durationMs: 200, interrupted: true }]);
    const fade = p.next();
    assert.equal(fade.kind, 'fade');
    if (fade.kind === 'fade') {
      let lastNonZero = -1;
      for (let i = 0; i < 320; i++) if (fade.pcm.readInt16LE(i * 2) !== 0) lastNonZero = i;
      assert.ok(lastNonZero >= 60 && lastNonZero < 80, `fade ends within 5 ms (80 samples), got ${lastNonZero}`);
      assert.ok(Math.abs(fade.pcm.readInt16LE(0)) <= 10000);
      assert.ok(Math.abs(fade.pcm.readInt16LE(140)) < 1500, 'ramps down');
    }
    // The other turn was not flushed.
    const other = p.next();
    assert.equal(other.kind, 'speech');
    assert.equal(p.push({ pcm16k: frameOf(1), turnId: 't1', speakId: 's1' }), 'dropped_flushed');
    assert.equal(p.next().kind, 'silence');
  });

  it('is bounded', () => {
    const p = createAgentPlayout({ maxQueueMs: 100 });
    assert.equal(p.push({ pcm16k: Buffer.alloc(640 * 5), turnId: 't', speakId: 's' }), 'queued');
    assert.equal(p.push({ pcm16k: Buffer.alloc(640), turnId: 't', speakId: 's' }), 'dropped_full');
  });
});

describe('agent sender', () => {
  it('keeps seq/timestamp continuous through silence, marks talkspurts and gaps, resets the encoder per speech', () => {
    const playout = createAgentPlayout();
    const packets: Buffer[] = [];
    const s = createAgentSender({ playout, send: (p) => packets.push(p), payloadType: 111, ssrc: 7, onEvent: () => {}, initialSequence: 65534, initialTimestamp: 0xfffffc00 });
    s.onFrame(); // silence
    const tone = Buffer.alloc(1280);
    for (let i = 0; i < 640; i++) tone.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 500 * i) / 16000)), i * 2);
    playout.push({ pcm16k: tone, turnId: 't', speakId: 's', last: true });
    s.onFrame(); // speech (talkspurt start)
    s.onFrame(); // speech
    s.onFrame(); // silence
    s.onSkip(2);
    s.onFrame(); // silence after a gap
    const v = packets.map((p) => parseRtp(p)!);
    assert.deepEqual(v.map((x) => x.sequenceNumber), [65534, 65535, 0, 1, 2]);
    assert.deepEqual(v.map((x) => x.timestamp), [0xfffffc00, (0xfffffc00 + 960) >>> 0, (0xfffffc00 + 1920) >>> 0, (0xfffffc00 + 2880) >>> 0, (0xfffffc00 + 6 * 960) >>> 0]);
    assert.deepEqual(v.map((x) => x.marker), [true, true, false, false, true]);
    assert.ok(v[0]!.payload.equals(OPUS_SILENCE_FRAME) && v[3]!.payload.equals(OPUS_SILENCE_FRAME));
    assert.equal(s.stats.encoderResets, 1);
    // The speech payload is real Opus: decodes to a loud 20 ms frame.
    const d = new Decoder({ channels: 1, sample_rate: 48000 });
    d.decode(v[1]!.payload);
    const pcm = Buffer.from(d.decode(v[2]!.payload));
    assert.equal(pcm.length, 1920);
    let peak = 0;
    for (let i = 0; i < 960; i++) peak = Math.max(peak, Math.abs(pcm.readInt16LE(i * 2)));
    assert.ok(peak > 1000, `peak ${peak}`);
    assert.equal(buildRtp({ payloadType: 1, marker: false, sequenceNumber: 0, timestamp: 0, ssrc: 0, payload: Buffer.alloc(0) }).length, 12);
  });
});

describe('send clock', () => {
  it('self-corrects: slot count follows wall time even when the event loop stalls', async () => {
    let slots = 0;
    let skipped = 0;
    const c = createSendClock({ onFrame: () => slots++, onSkip: (n) => (skipped += n), maxBurst: 10 });
    const t0 = performance.now();
    c.start();
    await new Promise((r) => setTimeout(r, 300));
    const busyUntil = performance.now() + 70; // block the loop for 70 ms (3–4 slots late)
    while (performance.now() < busyUntil);
    await new Promise((r) => setTimeout(r, 330));
    c.stop();
    const elapsed = performance.now() - t0;
    const expected = Math.floor(elapsed / 20) + 1;
    // Every slot is accounted for: sent (in a catch-up burst after the stall) or, only if the
    // machine was far busier than the 70 ms stall, skipped — never silently lost or doubled.
    assert.ok(Math.abs(slots + skipped - expected) <= 2, `slots ${slots} + skipped ${skipped} vs expected ${expected}`);
    assert.ok(skipped <= slots / 4, `skipped ${skipped}`);
    const st = c.stats();
    assert.ok(st.lateMaxMs >= 50, 'the stall shows in the lateness stats');
  });
});
