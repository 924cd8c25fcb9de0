// The worker built from source here (scripts/mediasoup/build-worker.sh) runs mediasoup's
// FlatBuffers channel: Router with Opus, WebRtcTransport (UDP+TCP on loopback), DirectTransport,
// produce/consume with RTP flowing through the worker, getResourceUsage; and the pool replaces a
// killed worker and tells the owners of its routers.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createCallMedia, createWorkerPool, OPUS_ROUTER_CODEC, parseRtp, buildRtp, OPUS_SILENCE_FRAME } from '../src/media/index';
import type { CallEndReason, WorkerPool } from '../src/media/index';
import { workerBin } from './helpers/media-env';

describe('mediasoup worker built from source', { timeout: 40 * 60_000 }, () => {
  let pool: WorkerPool;

  before(async () => {
    const bin = workerBin();
    pool = createWorkerPool({ workerBin: bin, size: 2, respawnDelayMs: 50 });
    await pool.start();
  });
  after(async () => {
    await pool?.stop();
  });

  it('runs a Router with Opus, WebRtcTransport, DirectTransport, produce/consume and getResourceUsage', { timeout: 60_000 }, async () => {
    assert.equal(pool.liveWorkers, 2);
    const ended: string[] = [];
    const lease = await pool.createRouter({ mediaCodecs: [OPUS_ROUTER_CODEC], onEnded: (r) => ended.push(r) });
    const router = lease.router;
    try {
      const opus = router.rtpCapabilities.codecs?.find((c) => c.mimeType.toLowerCase() === 'audio/opus');
      assert.ok(opus, 'router offers Opus');
      assert.equal(opus.clockRate, 48000);

      const webrtc = await router.createWebRtcTransport({
        listenInfos: [
          { protocol: 'udp', ip: '127.0.0.1', portRange: { min: 40000, max: 49999 } },
          { protocol: 'tcp', ip: '127.0.0.1', portRange: { min: 40000, max: 49999 } },
        ],
      });
      const protocols = new Set(webrtc.iceCandidates.map((c) => c.protocol));
      assert.deepEqual([...protocols].sort(), ['tcp', 'udp']);
      assert.ok(webrtc.iceCandidates.every((c) => c.address === '127.0.0.1' && c.port >= 40000 && c.port <= 49999));
      assert.ok(webrtc.dtlsParameters.fingerprints.length > 0, 'DTLS certificate fingerprints (OpenSSL works)');

      // Producer on one DirectTransport, consumer on another: RTP goes through the worker.
      const inT = await router.createDirectTransport({ maxMessageSize: 262144 });
      const outT = await router.createDirectTransport({ maxMessageSize: 262144 });
      const ssrc = 0x11223344;
      const producer = await inT.produce({
        kind: 'audio',
        rtpParameters: {
          codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2, parameters: {}, rtcpFeedback: [] }],
          encodings: [{ ssrc }],
        },
      });
      const consumer = await outT.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
      const got: number[] = [];
      const seqs: number[] = [];
      consumer.on('rtp', (buf) => {
        const v = parseRtp(buf);
        if (v && v.payload.equals(OPUS_SILENCE_FRAME)) {
          got.push(v.payloadType);
          seqs.push(v.sequenceNumber);
        }
      });
      for (let i = 0; i < 20; i++) {
        producer.send(buildRtp({ payloadType: 111, marker: i === 0, sequenceNumber: 1000 + i, timestamp: 5000 + i * 960, ssrc, payload: OPUS_SILENCE_FRAME }));
      }
      const deadline = Date.now() + 5000;
      while (got.length < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(got.length, 20, 'all 20 packets forwarded by the worker');
      // The consumer speaks the router's payload type and sequence space, not the producer's.
      assert.ok(got.every((pt) => pt === opus.preferredPayloadType));
      for (let i = 1; i < seqs.length; i++) assert.equal((seqs[i]! - seqs[i - 1]!) & 0xffff, 1);

      // The browser side of a call consumes the same producer over WebRTC.
      const webrtcConsumer = await webrtc.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
      assert.equal(webrtcConsumer.kind, 'audio');
      assert.equal(webrtcConsumer.rtpParameters.codecs[0]?.mimeType.toLowerCase(), 'audio/opus');

      const stats = await pool.stats();
      assert.equal(stats.length, 2);
      assert.ok(stats.every((s) => s.usage.ru_maxrss > 0 && s.pid > 0));
      assert.equal(stats.reduce((n, s) => n + s.routers, 0), 1);
    } finally {
      lease.release();
    }
    assert.deepEqual(ended, [], 'release() does not call the owner back');
  });

  it('spreads routers over workers (least loaded first)', async () => {
    const a = await pool.createRouter({ mediaCodecs: [OPUS_ROUTER_CODEC], onEnded: () => {} });
    const b = await pool.createRouter({ mediaCodecs: [OPUS_ROUTER_CODEC], onEnded: () => {} });
    try {
      assert.notEqual(a.workerPid, b.workerPid);
    } finally {
      a.release();
      b.release();
    }
  });

  it('a killed worker ends its calls with worker_died and is replaced', { timeout: 60_000 }, async () => {
    const reasons: CallEndReason[] = [];
    const call = await createCallMedia(pool, { onCallerFrame: () => {}, onEnded: (r) => reasons.push(r) });
    const other = await createCallMedia(pool, { onCallerFrame: () => {}, onEnded: (r) => reasons.push(`other:${r}` as CallEndReason) });
    assert.notEqual(call.workerPid, other.workerPid);
    const victim = call.workerPid;
    process.kill(victim, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while ((reasons.length === 0 || pool.liveWorkers < 2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    assert.deepEqual(reasons, ['worker_died']);
    assert.equal(call.closed, true);
    assert.equal(other.closed, false, 'calls on the other worker are untouched');
    assert.equal(pool.liveWorkers, 2, 'replacement worker spawned');
    const pids = (await pool.stats()).map((s) => s.pid);
    assert.ok(!pids.includes(victim));
    // The replacement takes new calls.
    const next = await createCallMedia(pool, { onCallerFrame: () => {}, onEnded: () => {} });
    assert.notEqual(next.workerPid, victim);
    next.close();
    other.close();
    other.close(); // idempotent
    assert.deepEqual(reasons, ['worker_died', 'other:closed']);
  });

  it('a caller that never connects ends the call with connect_timeout', async () => {
    const reasons: CallEndReason[] = [];
    const call = await createCallMedia(pool, { config: { connectTimeoutMs: 300 }, onCallerFrame: () => {}, onEnded: (r) => reasons.push(r) });
    await call.caller.createTransport('recv');
    const deadline = Date.now() + 5000;
    while (reasons.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(reasons, ['connect_timeout']);
    assert.equal(call.closed, true);
  });

  it('stopping the pool ends its calls with pool_stopped (their clocks stop)', async () => {
    const own = createWorkerPool({ workerBin: workerBin(), size: 1 });
    await own.start();
    const reasons: CallEndReason[] = [];
    const call = await createCallMedia(own, { onCallerFrame: () => {}, onEnded: (r) => reasons.push(r) });
    await own.stop();
    assert.deepEqual(reasons, ['pool_stopped']);
    assert.equal(call.closed, true);
    const slots = call.stats().clock.slots;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(call.stats().clock.slots, slots, 'send clock stopped');
    assert.equal(call.stats().agent.sendErrors, 0, 'nothing sent into a closed worker');
  });

  it('closing a call closes its router tree once', async () => {
    const reasons: CallEndReason[] = [];
    const call = await createCallMedia(pool, { onCallerFrame: () => {}, onEnded: (r) => reasons.push(r) });
    const t = await call.caller.createTransport('recv');
    assert.equal((await call.caller.createTransport('recv')).id, t.id, 'one transport per direction');
    const sup = call.addSupervisor();
    await sup.createTransport('recv');
    const before = (await pool.stats()).reduce((n, s) => n + s.routers, 0);
    call.close();
    call.close();
    assert.deepEqual(reasons, ['closed']);
    assert.equal(sup.closed, true);
    assert.equal((await pool.stats()).reduce((n, s) => n + s.routers, 0), before - 1);
    await assert.rejects(call.caller.createTransport('send'), { code: 'CALL_CLOSED' });
    assert.throws(() => call.pushAgentPcm({ pcm16k: Buffer.alloc(640), turnId: 't', speakId: 's' }), { code: 'CALL_CLOSED' });
  });
});
