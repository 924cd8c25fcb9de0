// One call on this gateway replica: its media (CallMedia), its bus wiring and the sockets that
// watch it (the caller's page, supervisors). It owns, and closes in one place:
//   caller frames → voice.audio.in (core publish, memory stream)
//   voice.audio.out.<sid> (ordered consumer) → pushAgentPcm
//   voice.cmd.gateway.<sid>.> (ordered consumer: only this replica holds the call) → mic / flush / end
//   voice.ui.<sid> (core) → every page of the call
//   playback callbacks → PLAYBACK_STARTED / PLAYBACK_DONE; CALL_STARTED / CALL_ENDED
// Event ids are derived from the session id and speak id, so a re-publish is deduplicated.
import type { AliasRegistry, Bus, OrderedSubscription } from '@switchboard/bus';
import { subscribeOrdered } from '@switchboard/bus';
import {
  AudioFrame,
  AudioSource,
  CommandType,
  MicState as WireMicState,
  SpeakKind,
  STREAMS,
  decodeAudioFrame,
  decodeCommand,
  makeEvent,
  subjects,
  type Command,
} from '@switchboard/contracts';
import type { Logger, Metrics } from '@switchboard/telemetry';
import type { CallEndReason, CallMedia, CallMediaConfig, CallerFrame, MediaPeer, MicState, WorkerPool } from '../media/index';
import { createCallMedia } from '../media/index';
import type { ServerMessage, SessionUpdateView } from '../signaling/protocol';

/** Where a call's pages receive pushes (a WebSocket in the gateway, a recorder in tests). */
export interface CallListener {
  readonly id: string;
  send(msg: ServerMessage): void;
  /** The call is over: close the socket (after `ended` was sent). */
  close(): void;
}

export interface CallSessionDeps {
  bus: Bus;
  pool: WorkerPool;
  log: Logger;
  metrics: Metrics;
  replicaId: string;
  media: CallMediaConfig;
  language: string;
  maxSupervisors: number;
  aliases?: AliasRegistry;
  /** Removed from the gateway's table once everything is closed. */
  onClosed(sessionId: string): void;
}

export interface CallSession {
  readonly sessionId: string;
  readonly media: CallMedia;
  readonly startedAt: number;
  readonly ended: boolean;
  readonly supervisors: number;
  /** Caller started producing and CALL_STARTED is on the bus. */
  readonly live: boolean;
  /** After the caller's produce(): announce the call (CALL_STARTED) and start forwarding audio. */
  announce(): Promise<void>;
  addSupervisor(listener: CallListener): MediaPeer;
  removeListener(listener: CallListener): void;
  /** Ends the call (idempotent); `reason` goes into CALL_ENDED and to the pages. */
  end(reason: string): Promise<void>;
  readonly closed: Promise<void>;
}

const MIC_OF_WIRE: Partial<Record<WireMicState, MicState>> = {
  [WireMicState.MIC_STATE_OPEN]: 'OPEN',
  [WireMicState.MIC_STATE_GATED]: 'GATED',
  [WireMicState.MIC_STATE_CLOSED]: 'CLOSED',
};

/** Media end reasons → CALL_ENDED reasons (the proto's vocabulary: hangup, ice_failed, worker_died…). */
const REASON_OF_MEDIA: Record<CallEndReason, string> = {
  closed: 'closed',
  caller_left: 'hangup',
  last_peer_left: 'hangup',
  worker_died: 'worker_died',
  pool_stopped: 'shutdown',
  connect_timeout: 'connect_timeout',
  dtls_failed: 'dtls_failed',
  dtls_closed: 'hangup',
  ice_disconnected: 'ice_failed',
  ice_closed: 'ice_failed',
};

export async function openCallSession(
  deps: CallSessionDeps,
  opts: { sessionId: string; caller: CallListener; alias?: string },
): Promise<CallSession> {
  const { bus, metrics } = deps;
  const sessionId = opts.sessionId;
  const log = deps.log.child({ sessionId });
  const listeners = new Map<string, CallListener>([[opts.caller.id, opts.caller]]);
  const supervisorPeers = new Map<string, MediaPeer>(); // listener id → peer
  const speakKinds = new Map<string, SpeakKind>(); // speakId → kind (frames carry it; playback events need it)
  const startedAt = Date.now();
  const framesIn = metrics.counter('gateway_audio_in_frames_total', 'caller frames published to the bus');
  const framesOut = metrics.counter('gateway_audio_out_frames_total', 'agent frames received from the bus', ['outcome']);
  const commandsTotal = metrics.counter('gateway_commands_total', 'gateway commands handled', ['type']);

  let live = false;
  let endReason: string | undefined;
  let finishing: Promise<void> | undefined;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  const warned = new Set<string>();
  const warnOnce = (key: string, obj: object, msg: string): void => {
    if (warned.has(key)) return;
    warned.add(key);
    log.warn(obj, msg);
  };

  function broadcast(msg: ServerMessage): void {
    for (const l of listeners.values()) {
      try {
        l.send(msg);
      } catch (err) {
        warnOnce(`send:${l.id}`, { err: (err as Error).message, listener: l.id }, 'push to page failed');
      }
    }
  }

  function publishCallerFrame(frame: CallerFrame): void {
    if (!live || endReason !== undefined) return;
    try {
      bus.publishAudioIn(
        AudioFrame.fromPartial({
          sessionId,
          seq: frame.seq,
          audioMs: frame.audioMs,
          sampleRate: frame.sampleRate,
          pcm: frame.pcm,
          source: AudioSource.AUDIO_SOURCE_WEBRTC,
          capturedAt: Date.now(),
        }),
      );
      framesIn.inc();
    } catch (err) {
      warnOnce('audio_in', { err: (err as Error).message }, 'caller audio publish failed (NATS closed?)');
    }
  }

  function publishEvent(ev: Parameters<Bus['publishEvent']>[0], what: string): void {
    bus.publishEvent(ev).catch((err: unknown) => {
      log.warn({ err: (err as Error).message, eventType: ev.eventType, eventId: ev.eventId }, `${what} publish failed`);
    });
  }

  const media = await createCallMedia(deps.pool, {
    callId: sessionId,
    config: deps.media,
    log,
    onCallerFrame: publishCallerFrame,
    onWhisperFrame: () => {
      // A supervisor's whisper is for a human agent; the AI agent ignores it (counted only).
      metrics.counter('gateway_whisper_frames_total', 'supervisor whisper frames received').inc();
    },
    onPlaybackStarted: ({ turnId, speakId }) => {
      const kind = speakKinds.get(speakId) ?? SpeakKind.SPEAK_KIND_ANSWER;
      broadcast({ type: 'playback', event: 'started', turnId, speakId, kind, serverTime: Date.now() });
      if (!live) return;
      publishEvent(
        makeEvent('PLAYBACK_STARTED', { sessionId, source: 'sfu-gateway', eventId: `${sessionId}:pbs:${speakId}`, correlationId: turnId }, { turnId, speakId, kind }),
        'PLAYBACK_STARTED',
      );
    },
    onPlaybackDone: ({ turnId, speakId, durationMs, interrupted }) => {
      const kind = speakKinds.get(speakId) ?? SpeakKind.SPEAK_KIND_ANSWER;
      speakKinds.delete(speakId);
      broadcast({ type: 'playback', event: 'done', turnId, speakId, kind, durationMs, interrupted, serverTime: Date.now() });
      if (!live) return;
      publishEvent(
        makeEvent(
          'PLAYBACK_DONE',
          { sessionId, source: 'sfu-gateway', eventId: `${sessionId}:pbd:${speakId}`, correlationId: turnId },
          { turnId, speakId, kind, durationMs, interrupted },
        ),
        'PLAYBACK_DONE',
      );
    },
    onPeerLeft: (peerId, reason) => log.info({ peerId, reason }, 'supervisor left'),
    onEnded: (reason) => {
      void finish(endReason ?? REASON_OF_MEDIA[reason]);
    },
  });

  // Bus wiring, before the call is announced so no command, frame or update is missed.
  let updates: ReturnType<Bus['nc']['subscribe']> | undefined;
  let audioOut: OrderedSubscription | undefined;
  let commands: OrderedSubscription | undefined;
  let aliasBound: string | undefined;

  function onAgentFrame(data: Uint8Array): void {
    let frame: AudioFrame;
    try {
      frame = decodeAudioFrame(data);
    } catch (err) {
      framesOut.inc({ outcome: 'invalid' });
      warnOnce('bad_frame', { err: (err as Error).message }, 'invalid agent audio frame dropped');
      return;
    }
    if (frame.sessionId !== sessionId || frame.sampleRate !== 16000) {
      framesOut.inc({ outcome: 'invalid' });
      warnOnce('bad_frame_rate', { sampleRate: frame.sampleRate }, 'agent audio frame of another session or rate dropped');
      return;
    }
    if (media.closed) return;
    if (frame.speakId && frame.kind !== SpeakKind.SPEAK_KIND_UNSPECIFIED) speakKinds.set(frame.speakId, frame.kind);
    const r = media.pushAgentPcm({ pcm16k: frame.pcm, turnId: frame.turnId, speakId: frame.speakId, last: frame.last });
    framesOut.inc({ outcome: r });
    if (r === 'dropped_full') warnOnce('queue_full', { queuedMs: media.stats().queuedAgentMs }, 'agent audio queue full: frames dropped');
  }

  function onCommand(cmd: Command): void {
    commandsTotal.inc({ type: cmd.commandType });
    switch (cmd.commandType) {
      case CommandType.MIC_SET: {
        const state = MIC_OF_WIRE[cmd.micSet?.state ?? WireMicState.MIC_STATE_UNSPECIFIED];
        if (!state) {
          log.warn({ commandId: cmd.commandId, state: cmd.micSet?.state }, 'MIC_SET without a valid state ignored');
          return;
        }
        const prev = media.setMic(state);
        log.debug({ mic: state, prev, reason: cmd.micSet?.reason }, 'mic set');
        return;
      }
      case CommandType.PLAYBACK_FLUSH: {
        const turnId = cmd.playbackFlush?.turnId || cmd.correlationId || undefined;
        const r = media.flush({ ...(turnId ? { turnId } : {}), fadeMs: cmd.playbackFlush?.fadeMs || 5 });
        broadcast({ type: 'playback', event: 'done', turnId: turnId ?? '', speakId: '', kind: 'FLUSH', interrupted: true, serverTime: Date.now() });
        // commandLagMs: orchestrator decision → applied here (bus + consumer), for barge-in budgets.
        log.info({ turnId, droppedFrames: r.droppedFrames, reason: cmd.playbackFlush?.reason, commandLagMs: Date.now() - cmd.timestamp }, 'playback flushed');
        return;
      }
      case CommandType.CALL_END:
        void end(cmd.callEnd?.reason || 'agent_ended');
        return;
      default:
        log.warn({ commandType: cmd.commandType, commandId: cmd.commandId }, 'unexpected gateway command ignored');
    }
  }

  async function stopBus(): Promise<void> {
    updates?.unsubscribe();
    await Promise.all([audioOut?.stop(), commands?.stop()]);
  }

  try {
    updates = bus.nc.subscribe(subjects.sessionUpdates(sessionId), {
      callback: (err, m) => {
        if (err) return;
        let update: SessionUpdateView;
        try {
          update = JSON.parse(new TextDecoder().decode(m.data)) as SessionUpdateView;
        } catch {
          warnOnce('bad_update', {}, 'session update is not JSON');
          return;
        }
        broadcast({ type: 'update', update, serverTime: Date.now() });
      },
    });
    audioOut = await subscribeOrdered(bus, { stream: STREAMS.audioOut, filter: subjects.audioOut(sessionId), onMessage: (m) => onAgentFrame(m.data) });
    // A new session id has no earlier commands: read from the call's start (minus clock skew).
    commands = await subscribeOrdered(bus, {
      stream: STREAMS.cmd.gateway,
      filter: subjects.commandsOfSession('gateway', sessionId),
      startTimeMs: startedAt - 5_000,
      onMessage: (m) => {
        let cmd: Command;
        try {
          cmd = decodeCommand(m.data);
        } catch (err) {
          void bus.deadLetter({ subject: m.subject, data: m.data, headers: m.headers, stream: STREAMS.cmd.gateway, seq: m.seq }, 'invalid', (err as Error).message).catch(() => undefined);
          return;
        }
        if (cmd.sessionId !== sessionId) return;
        onCommand(cmd);
      },
    });
    if (opts.alias && deps.aliases) {
      await deps.aliases.bind(opts.alias, sessionId);
      aliasBound = opts.alias;
    }
  } catch (err) {
    // The joining socket gets the error from the caller of openCallSession, not an `ended` push.
    listeners.clear();
    endReason = 'setup_failed';
    media.close();
    await stopBus().catch(() => undefined);
    throw err;
  }

  async function finish(reason: string): Promise<void> {
    if (finishing) return finishing;
    // Set before anything runs: media.close() below re-enters finish() through onEnded.
    let resolveFinishing!: () => void;
    finishing = new Promise<void>((r) => (resolveFinishing = r));
    void (async () => {
      endReason ??= reason;
      const wasLive = live;
      live = false;
      if (!media.closed) media.close('closed');
      await stopBus().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'stopping call subscriptions failed'));
      if (wasLive) {
        try {
          await bus.publishEvent(makeEvent('CALL_ENDED', { sessionId, source: 'sfu-gateway', eventId: `${sessionId}:call_ended` }, { reason: endReason }));
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'CALL_ENDED publish failed');
        }
      }
      if (aliasBound) await deps.aliases?.unbind(aliasBound).catch(() => undefined);
      const durationMs = Date.now() - startedAt;
      metrics.counter('gateway_calls_ended_total', 'calls ended, by reason', ['reason']).inc({ reason: endReason.split(':')[0]! });
      log.info({ reason: endReason, durationMs, stats: { caller: media.stats().caller, agent: media.stats().agent } }, 'call ended');
      broadcast({ type: 'ended', reason: endReason, serverTime: Date.now() });
      for (const l of listeners.values()) l.close();
      listeners.clear();
      deps.onClosed(sessionId);
      resolveClosed();
    })()
      .catch((err: unknown) => log.error({ err: (err as Error).message }, 'ending the call failed'))
      .finally(() => resolveFinishing());
    return finishing;
  }

  async function end(reason: string): Promise<void> {
    endReason ??= reason;
    return finish(reason);
  }

  return {
    sessionId,
    media,
    startedAt,
    get ended() {
      return endReason !== undefined;
    },
    get live() {
      return live;
    },
    get supervisors() {
      return supervisorPeers.size;
    },
    closed,
    async announce() {
      if (live || endReason !== undefined) return;
      await bus.publishEvent(
        makeEvent(
          'CALL_STARTED',
          { sessionId, source: 'sfu-gateway', eventId: `${sessionId}:call_started` },
          { audioSource: AudioSource.AUDIO_SOURCE_WEBRTC, language: deps.language, gatewayId: deps.replicaId, aliases: opts.alias ? [opts.alias] : [] },
        ),
      );
      if (endReason !== undefined) return;
      live = true;
      log.info({ workerPid: media.workerPid, alias: opts.alias }, 'call started');
    },
    addSupervisor(listener) {
      if (supervisorPeers.size >= deps.maxSupervisors) throw new Error(`at most ${deps.maxSupervisors} supervisors per call`);
      const peer = media.addSupervisor();
      listeners.set(listener.id, listener);
      supervisorPeers.set(listener.id, peer);
      log.info({ peerId: peer.id }, 'supervisor joined');
      return peer;
    },
    removeListener(listener) {
      listeners.delete(listener.id);
      const peer = supervisorPeers.get(listener.id);
      supervisorPeers.delete(listener.id);
      peer?.leave('socket_closed');
    },
    end,
  };
}
