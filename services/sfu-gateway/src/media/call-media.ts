// The media of one call: a Router on a pooled worker, WebRTC transports for the browser peers
// (the caller; supervisors listening in), and a DirectTransport that connects the router to Node:
// caller audio comes out as 20 ms 16 kHz PCM frames, agent audio goes in as PCM and is played on a
// self-correcting 20 ms clock. Ownership follows mediasoup: the call owns its router, the router
// owns every transport/producer/consumer; closing the call (once, idempotent) closes them all.
import { performance } from 'node:perf_hooks';
import { randomInt, randomUUID } from 'node:crypto';
import { Decoder } from '@evan/opus';
import type { types as ms } from 'mediasoup';
import type { AgentPcm, PlaybackDone, PlaybackStarted, PushResult } from './agent-playout';
import { createAgentPlayout } from './agent-playout';
import type { AgentSenderStats } from './agent-sender';
import { createAgentSender } from './agent-sender';
import type { CallerAudioStats, CallerFrame } from './caller-audio';
import { createCallerAudioAssembler } from './caller-audio';
import { MediaError } from './errors';
import type { MediaLogger } from './logger';
import { noopLogger } from './logger';
import { parseRtp } from './rtp';
import type { SendClockStats } from './send-clock';
import { createSendClock } from './send-clock';
import type { WorkerPool } from './worker-pool';

export type MicState = 'OPEN' | 'GATED' | 'CLOSED';
export type PeerRole = 'caller' | 'supervisor';
export type TransportDirection = 'send' | 'recv';

export type CallEndReason =
  | 'closed' // close() was called
  | 'caller_left'
  | 'last_peer_left'
  | 'worker_died'
  | 'pool_stopped' // the worker pool is shutting down (SIGTERM)
  | 'connect_timeout' // the caller never got DTLS up
  | 'dtls_failed'
  | 'dtls_closed' // the browser closed its PeerConnection
  | 'ice_disconnected' // ICE stayed disconnected past iceDisconnectTimeoutMs
  | 'ice_closed';

export interface CallMediaConfig {
  /** IP the WebRTC sockets bind to. Default 127.0.0.1. */
  listenIp?: string;
  /** Address announced in ICE candidates (public IP or hostname) when it differs from listenIp. */
  announcedAddress?: string;
  /** UDP/TCP port range for WebRTC transports. Default 40000–49999. */
  portRange?: { min: number; max: number };
  enableUdp?: boolean;
  enableTcp?: boolean;
  /** How long ICE may stay 'disconnected' before the call (or a supervisor) ends. Default 5000 ms. */
  iceDisconnectTimeoutMs?: number;
  /** mediasoup's ICE consent timeout (s): no consent → ICE 'disconnected'. Default 30. */
  iceConsentTimeoutS?: number;
  /** The caller must reach DTLS 'connected' within this. Default 20 000 ms. */
  connectTimeoutMs?: number;
  /** Payload type of the agent producer's Opus. Default 111. */
  agentPayloadType?: number;
  encoderComplexity?: number;
  maxQueueMs?: number;
  stallFillMs?: number;
  maxGapFillMs?: number;
  /** Frames the send clock may send in one late wake-up before skipping slots. Default 1: only
   *  the slot due now is sent, so no packet ever leaves more than one period behind its RTP
   *  timestamp. A burst of late packets is what grows Chromium's jitter buffer (its target follows
   *  the arrival delays it saw: 80–110 ms here with bursts of 2 after 40–110 ms stalls, and every
   *  later flush and answer is heard that much later); a skipped slot is only a 20 ms gap the
   *  browser conceals. The agent's audio is not lost either way: a skipped slot consumes nothing
   *  from the queue. */
  maxBurst?: number;
  initialMic?: MicState;
}

export interface WhisperFrame extends CallerFrame {
  readonly source: 'supervisor';
  readonly peerId: string;
}

export interface CallMediaHooks {
  /** Caller audio, 20 ms frames (not called while the mic is CLOSED). */
  onCallerFrame(frame: CallerFrame): void;
  /** A supervisor's whisper, for the agent only (never routed to the caller). */
  onWhisperFrame?(frame: WhisperFrame): void;
  onPlaybackStarted?(e: PlaybackStarted): void;
  onPlaybackDone?(e: PlaybackDone): void;
  /** Once, whatever ended the call (including close()). */
  onEnded(reason: CallEndReason): void;
  /** A supervisor left (by itself, or its transport failed). */
  onPeerLeft?(peerId: string, reason: string): void;
}

/** What the browser needs to create a mediasoup-client transport. */
export interface TransportOptions {
  id: string;
  iceParameters: ms.IceParameters;
  iceCandidates: ms.IceCandidate[];
  dtlsParameters: ms.DtlsParameters;
}

/** What the browser needs for mediasoup-client's transport.consume(). */
export interface ConsumerOptions {
  id: string;
  producerId: string;
  kind: ms.MediaKind;
  rtpParameters: ms.RtpParameters;
  /** Whose audio this is. */
  source: 'agent' | 'caller';
}

export interface MediaPeer {
  readonly id: string;
  readonly role: PeerRole;
  readonly closed: boolean;
  /** One transport per direction (mediasoup-client transports are one-way); idempotent. */
  createTransport(direction: TransportDirection): Promise<TransportOptions>;
  connectTransport(transportId: string, dtlsParameters: ms.DtlsParameters): Promise<void>;
  /** Caller: its microphone (one audio producer). Supervisor: a whisper for the agent only. */
  produce(opts: { transportId: string; kind: ms.MediaKind; rtpParameters: ms.RtpParameters }): Promise<{ id: string }>;
  /** Caller: the agent's voice. Supervisor: the caller and the agent (call again after the caller produced). */
  consume(opts: { transportId: string; rtpCapabilities: ms.RtpCapabilities }): Promise<ConsumerOptions[]>;
  leave(reason?: string): void;
}

export interface CallMediaStats {
  mic: MicState;
  queuedAgentMs: number;
  caller: Readonly<CallerAudioStats>;
  agent: Readonly<AgentSenderStats>;
  clock: SendClockStats;
  peers: number;
}

export interface CallMedia {
  readonly callId: string;
  readonly closed: boolean;
  readonly workerPid: number;
  readonly routerRtpCapabilities: ms.RtpCapabilities;
  readonly caller: MediaPeer;
  addSupervisor(): MediaPeer;
  pushAgentPcm(chunk: AgentPcm): PushResult;
  /** Fades ≤5 ms and empties the queue at once (silence keeps flowing); later frames of turnId are dropped. */
  flush(opts: { turnId?: string; fadeMs?: number }): { droppedFrames: number };
  setMic(state: MicState): MicState;
  readonly mic: MicState;
  stats(): CallMediaStats;
  close(reason?: CallEndReason): void;
}

export const OPUS_ROUTER_CODEC: ms.RouterRtpCodecCapability = {
  kind: 'audio',
  mimeType: 'audio/opus',
  clockRate: 48000,
  channels: 2,
  parameters: { useinbandfec: 1, usedtx: 0 },
};

interface PeerState {
  peer: MediaPeer;
  transports: Map<string, { transport: ms.WebRtcTransport; direction: TransportDirection }>;
  byDirection: Map<TransportDirection, Promise<TransportOptions>>;
  producers: ms.Producer[];
  /** producer id → consumer, per transport, so repeated consume() calls are idempotent. */
  consumed: Set<string>;
}

export async function createCallMedia(
  pool: WorkerPool,
  opts: { callId?: string; config?: CallMediaConfig; log?: MediaLogger } & CallMediaHooks,
): Promise<CallMedia> {
  const cfg = opts.config ?? {};
  const callId = opts.callId ?? randomUUID();
  const log = opts.log ?? noopLogger;
  const listenIp = cfg.listenIp ?? '127.0.0.1';
  const portRange = cfg.portRange ?? { min: 40000, max: 49999 };
  const iceDisconnectTimeoutMs = cfg.iceDisconnectTimeoutMs ?? 5000;

  let closed = false;
  let endedWith: CallEndReason | undefined;
  let mic: MicState = cfg.initialMic ?? 'OPEN';
  const timers = new Set<NodeJS.Timeout>();
  const peers = new Map<string, PeerState>();
  const wake: ((nowMs: number) => void)[] = []; // stall watchdogs of the audio assemblers
  let callerProducer: ms.Producer | undefined;

  // Created before the router so a worker death during setup is handled by the same path.
  let end: (reason: CallEndReason) => void = (reason) => {
    endedWith ??= reason;
  };

  const lease = await pool.createRouter({
    mediaCodecs: [OPUS_ROUTER_CODEC],
    onEnded: (reason) => end(reason),
    appData: { callId },
  });
  const router = lease.router;
  let direct: ms.DirectTransport;
  let agentProducer: ms.Producer;
  const agentSsrc = randomInt(1, 0xffffffff);
  const payloadType = cfg.agentPayloadType ?? 111;
  try {
    direct = await router.createDirectTransport({ maxMessageSize: 262144, appData: { callId } });
    agentProducer = await direct.produce({
      kind: 'audio',
      rtpParameters: {
        mid: 'agent',
        // channels 2 is what Opus in SDP always says, even for a mono stream.
        codecs: [{ mimeType: 'audio/opus', payloadType, clockRate: 48000, channels: 2, parameters: { useinbandfec: 0, usedtx: 0 }, rtcpFeedback: [] }],
        encodings: [{ ssrc: agentSsrc }],
        rtcp: { cname: `agent-${callId}`, reducedSize: true },
      },
      appData: { source: 'agent' },
    });
  } catch (err) {
    lease.release();
    throw err;
  }

  const playout = createAgentPlayout({ maxQueueMs: cfg.maxQueueMs ?? 30_000 });
  const sender = createAgentSender({
    playout,
    payloadType,
    ssrc: agentSsrc,
    complexity: cfg.encoderComplexity ?? 5,
    send: (packet) => agentProducer.send(packet),
    onEvent: (e) => {
      if (e.type === 'started') opts.onPlaybackStarted?.({ turnId: e.turnId, speakId: e.speakId });
      else opts.onPlaybackDone?.({ turnId: e.turnId, speakId: e.speakId, durationMs: e.durationMs, interrupted: e.interrupted });
    },
  });
  let lastSkipLogAt = -Infinity;
  let skippedSinceLog = 0;
  const clock = createSendClock({
    maxBurst: cfg.maxBurst ?? 1,
    onFrame: () => sender.onFrame(),
    onSkip: (n) => {
      sender.onSkip(n);
      // Late wake-ups come in bunches on a loaded machine: at most one line per 10 s, with the slots
      // skipped since the previous line and how long that was (many small delays, rarely one stall:
      // a skipped slot delays the agent's audio by 20 ms, nothing is dropped).
      skippedSinceLog += n;
      const now = performance.now();
      if (now - lastSkipLogAt >= 10_000) {
        const sinceMs = Number.isFinite(lastSkipLogAt) ? Math.round(now - lastSkipLogAt) : undefined;
        log.warn(
          { slots: skippedSinceLog, ...(sinceMs === undefined ? {} : { sinceMs }), lateMaxMsSinceStart: Math.round(clock.stats().lateMaxMs), totalSkipped: sender.stats.skippedSlots },
          'send clock skipped slots (woke up later than a 20 ms slot: event loop busy or CPU short)',
        );
        lastSkipLogAt = now;
        skippedSinceLog = 0;
      }
    },
    onWake: (now) => {
      for (const w of wake) w(now);
    },
  });

  let callerAudioStats: Readonly<CallerAudioStats> = { packets: 0, framesOut: 0, filledMs: 0, lateDropped: 0, decodeErrors: 0, gapsTruncated: 0 };

  /** RTP from a producer → Node, via a DirectTransport consumer, decoded straight to 16 kHz. */
  async function tapProducer(producer: ms.Producer, onFrame: (f: CallerFrame) => void): Promise<Readonly<CallerAudioStats>> {
    const decoder = new Decoder({ channels: 1, sample_rate: 16000 });
    const assembler = createCallerAudioAssembler({
      decode: (payload) => decoder.decode(payload),
      resetDecoder: () => decoder.reset(),
      onFrame,
      ...(cfg.stallFillMs === undefined ? {} : { stallFillMs: cfg.stallFillMs }),
      ...(cfg.maxGapFillMs === undefined ? {} : { maxGapFillMs: cfg.maxGapFillMs }),
    });
    const consumer = await direct.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
    const tick = (now: number): void => assembler.onTick(now);
    wake.push(tick);
    consumer.on('rtp', (packet) => {
      const view = parseRtp(packet);
      if (view) assembler.onPacket(view, performance.now());
    });
    consumer.observer.once('close', () => {
      const i = wake.indexOf(tick);
      if (i >= 0) wake.splice(i, 1);
    });
    return assembler.stats;
  }

  function watchTransport(state: PeerState, transport: ms.WebRtcTransport): void {
    let iceTimer: NodeJS.Timeout | undefined;
    const fail = (reason: CallEndReason): void => {
      if (closed || state.peer.closed) return;
      log.warn({ peerId: state.peer.id, role: state.peer.role, transportId: transport.id, reason }, 'transport failed');
      if (state.peer.role === 'caller') end(reason);
      else state.peer.leave(reason);
    };
    transport.on('dtlsstatechange', (s) => {
      if (s === 'connected') {
        if (state.peer.role === 'caller') clearConnectTimer();
      } else if (s === 'failed') fail('dtls_failed');
      else if (s === 'closed') fail('dtls_closed');
    });
    transport.on('icestatechange', (s) => {
      if (s === 'disconnected') {
        if (iceTimer) return;
        iceTimer = setTimeout(() => {
          timers.delete(iceTimer!);
          iceTimer = undefined;
          fail('ice_disconnected');
        }, iceDisconnectTimeoutMs);
        timers.add(iceTimer);
      } else {
        if (iceTimer) {
          clearTimeout(iceTimer);
          timers.delete(iceTimer);
          iceTimer = undefined;
        }
        if (s === 'closed') fail('ice_closed');
      }
    });
  }

  function getTransport(state: PeerState, transportId: string): { transport: ms.WebRtcTransport; direction: TransportDirection } {
    const t = state.transports.get(transportId);
    if (!t) throw new MediaError('UNKNOWN_TRANSPORT', `no transport ${transportId} for peer ${state.peer.id}`);
    return t;
  }

  function assertOpen(state: PeerState): void {
    if (closed) throw new MediaError('CALL_CLOSED', `call ${callId} is closed`);
    if (state.peer.closed) throw new MediaError('PEER_CLOSED', `peer ${state.peer.id} left`);
  }

  function createPeer(role: PeerRole): MediaPeer {
    const id = role === 'caller' ? 'caller' : `supervisor-${randomUUID().slice(0, 8)}`;
    let peerClosed = false;
    const state: PeerState = {
      // Assigned below; the object literal needs `state` for its closures.
      peer: undefined as unknown as MediaPeer,
      transports: new Map(),
      byDirection: new Map(),
      producers: [],
      consumed: new Set(),
    };
    const peer: MediaPeer = {
      id,
      role,
      get closed() {
        return peerClosed || closed;
      },
      async createTransport(direction) {
        assertOpen(state);
        const existing = state.byDirection.get(direction);
        if (existing) return existing;
        const listenInfo = (protocol: 'udp' | 'tcp'): ms.TransportListenInfo => ({
          protocol,
          ip: listenIp,
          ...(cfg.announcedAddress ? { announcedAddress: cfg.announcedAddress } : {}),
          portRange,
        });
        const created = router
          .createWebRtcTransport({
            listenInfos: [
              ...(cfg.enableUdp === false ? [] : [listenInfo('udp')]),
              ...(cfg.enableTcp === false ? [] : [listenInfo('tcp')]),
            ],
            enableUdp: cfg.enableUdp !== false,
            enableTcp: cfg.enableTcp !== false,
            preferUdp: true,
            iceConsentTimeout: cfg.iceConsentTimeoutS ?? 30,
            appData: { callId, peerId: id, direction },
          })
          .then((transport) => {
            if (peer.closed) {
              transport.close();
              throw new MediaError('PEER_CLOSED', `peer ${id} left`);
            }
            state.transports.set(transport.id, { transport, direction });
            watchTransport(state, transport);
            return {
              id: transport.id,
              iceParameters: transport.iceParameters,
              iceCandidates: transport.iceCandidates,
              dtlsParameters: transport.dtlsParameters,
            };
          });
        state.byDirection.set(direction, created);
        created.catch(() => state.byDirection.delete(direction));
        return created;
      },
      async connectTransport(transportId, dtlsParameters) {
        assertOpen(state);
        await getTransport(state, transportId).transport.connect({ dtlsParameters });
      },
      async produce({ transportId, kind, rtpParameters }) {
        assertOpen(state);
        const t = getTransport(state, transportId);
        if (t.direction !== 'send') throw new MediaError('BAD_REQUEST', 'produce needs the send transport');
        if (kind !== 'audio') throw new MediaError('BAD_REQUEST', `only audio is accepted, got ${kind}`);
        if (state.producers.some((p) => !p.closed)) throw new MediaError('ALREADY_PRODUCING', `peer ${id} already sends audio`);
        const producer = await t.transport.produce({ kind, rtpParameters, appData: { peerId: id, role } });
        state.producers.push(producer);
        if (role === 'caller') {
          callerProducer = producer;
          callerAudioStats = await tapProducer(producer, (frame) => {
            if (mic !== 'CLOSED') opts.onCallerFrame(frame);
          });
        } else {
          // Whisper: only the DirectTransport (the agent side) consumes it; callers never do.
          await tapProducer(producer, (frame) => opts.onWhisperFrame?.({ ...frame, source: 'supervisor', peerId: id }));
        }
        log.info({ peerId: id, role, producerId: producer.id }, 'peer producing audio');
        return { id: producer.id };
      },
      async consume({ transportId, rtpCapabilities }) {
        assertOpen(state);
        const t = getTransport(state, transportId);
        if (t.direction !== 'recv') throw new MediaError('BAD_REQUEST', 'consume needs the recv transport');
        const sources: { producer: ms.Producer; source: 'agent' | 'caller' }[] = [{ producer: agentProducer, source: 'agent' }];
        if (role === 'supervisor' && callerProducer && !callerProducer.closed) sources.unshift({ producer: callerProducer, source: 'caller' });
        const out: ConsumerOptions[] = [];
        for (const { producer, source } of sources) {
          const key = `${transportId}:${producer.id}`;
          if (state.consumed.has(key)) continue;
          if (!router.canConsume({ producerId: producer.id, rtpCapabilities })) {
            throw new MediaError('BAD_REQUEST', `peer ${id} cannot consume ${source} audio with the given rtpCapabilities`);
          }
          const consumer = await t.transport.consume({ producerId: producer.id, rtpCapabilities, appData: { peerId: id, source } });
          state.consumed.add(key);
          consumer.observer.once('close', () => state.consumed.delete(key));
          out.push({ id: consumer.id, producerId: producer.id, kind: consumer.kind, rtpParameters: consumer.rtpParameters, source });
        }
        return out;
      },
      leave(reason = 'left') {
        if (peerClosed) return;
        peerClosed = true;
        for (const { transport } of state.transports.values()) transport.close(); // closes its producers/consumers
        state.transports.clear();
        peers.delete(id);
        log.info({ peerId: id, role, reason }, 'peer left');
        if (closed) return;
        if (role === 'caller') end('caller_left');
        else {
          opts.onPeerLeft?.(id, reason);
          if (peers.size === 0) end('last_peer_left');
        }
      },
    };
    state.peer = peer;
    peers.set(id, state);
    return peer;
  }

  let connectTimer: NodeJS.Timeout | undefined = setTimeout(() => {
    connectTimer = undefined;
    end('connect_timeout');
  }, cfg.connectTimeoutMs ?? 20_000);
  timers.add(connectTimer);
  function clearConnectTimer(): void {
    if (!connectTimer) return;
    clearTimeout(connectTimer);
    timers.delete(connectTimer);
    connectTimer = undefined;
  }

  function doClose(reason: CallEndReason): void {
    if (closed) return;
    closed = true;
    // The clock first: producer.send() throws once the router/worker is gone.
    clock.stop();
    for (const t of timers) clearTimeout(t);
    timers.clear();
    for (const s of [...peers.values()]) s.peer.leave(reason);
    peers.clear();
    wake.length = 0;
    lease.release(); // router.close() closes every transport, producer and consumer under it
    log.info({ callId, reason }, 'call media closed');
    try {
      opts.onEnded(reason);
    } catch (err) {
      log.error({ err: String(err) }, 'onEnded threw');
    }
  }
  end = doClose;

  const caller = createPeer('caller');
  clock.start();

  const media: CallMedia = {
    callId,
    workerPid: lease.workerPid,
    get closed() {
      return closed;
    },
    get routerRtpCapabilities() {
      return router.rtpCapabilities;
    },
    caller,
    addSupervisor() {
      if (closed) throw new MediaError('CALL_CLOSED', `call ${callId} is closed`);
      return createPeer('supervisor');
    },
    pushAgentPcm(chunk) {
      if (closed) throw new MediaError('CALL_CLOSED', `call ${callId} is closed`);
      return playout.push(chunk);
    },
    flush({ turnId, fadeMs }) {
      if (closed) return { droppedFrames: 0 };
      const r = playout.flush({ ...(turnId === undefined ? {} : { turnId }), fadeMs: fadeMs ?? 5 });
      for (const e of r.events) {
        if (e.type === 'done') opts.onPlaybackDone?.({ turnId: e.turnId, speakId: e.speakId, durationMs: e.durationMs, interrupted: e.interrupted });
      }
      return { droppedFrames: r.droppedFrames };
    },
    setMic(state) {
      const prev = mic;
      mic = state;
      return prev;
    },
    get mic() {
      return mic;
    },
    stats() {
      return {
        mic,
        queuedAgentMs: playout.queuedFrames * 20,
        caller: callerAudioStats,
        agent: sender.stats,
        clock: clock.stats(),
        peers: peers.size,
      };
    },
    close(reason = 'closed') {
      doClose(reason);
    },
  };
  // A worker death or timeout during setup already happened: honour it now.
  if (endedWith) doClose(endedWith);
  return media;
}
