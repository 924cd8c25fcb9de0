// The stt-adapter component. Partition leases (group 'stt-adapter') decide which partitions this
// replica serves; for each one an ordered subscription reads the partition's audio (replaying
// the last seconds on takeover) and routes frames to one SessionWorker per session. MIC_SET
// commands arrive on a per-replica fan-out consumer: every replica remembers every session's
// mic state (ready for a takeover) and the owner applies it.
import type { JsMsg } from '@nats-io/jetstream';
import { PartitionLeases, consume, fanOutConsumer, replicaConsumerName, subscribeOrdered, type ConsumerHandle, type OrderedSubscription } from '@switchboard/bus';
import {
  BUCKETS,
  STREAMS,
  decodeAudioFrame,
  decodeCommand,
  partitionOf,
  pcmSamples,
  subjects,
  type AudioFrame,
  type Command,
} from '@switchboard/contracts';
import type { ServiceComponent, ServiceContext } from '@switchboard/runtime';
import { sessionLogger } from '@switchboard/telemetry';
import type { SttAdapterConfig } from '../config';
import { MicMemory } from '../core/mic-memory';
import type { Mic, RecognizerEvent } from '../core/session-recognizer';
import { micOf } from '../core/to-events';
import type { RecognizerHost } from '../host/host';
import { REWIND_LAG_MS, readLastMic, readResumePoint, readSessionAudio } from './resume';
import { SessionWorker, type SessionHooks, type SessionInit } from './session-worker';

export const LEASE_GROUP = 'stt-adapter';

export interface SttAdapter extends ServiceComponent {
  owned(): number[];
  sessions(): Array<{ sessionId: string; partition: number } & ReturnType<SessionWorker['describe']>>;
  micMemory: MicMemory;
}

interface Served {
  readonly partition: number;
  sub: OrderedSubscription | undefined;
  readonly sessions: Map<string, SessionWorker>;
}

const SWEEP_MS = 50;
/** Audio before an unfinished utterance's onset that is read back on takeover (VAD needs context). */
const REWIND_MARGIN_MS = 500;
/** A frame held back for a missing one is played out after this much quiet. */
const HELD_BACK_FLUSH_MS = 80;

export async function createSttAdapter(ctx: ServiceContext<SttAdapterConfig>, host: RecognizerHost, opts: { providerName: string }): Promise<SttAdapter> {
  const { bus, log, metrics, replicaId, config: c } = ctx;
  const served = new Map<number, Served>();
  const micMemory = new MicMemory(c.STT_MIC_MEMORY_MAX);
  const startedAt = Date.now();

  const framesIn = metrics.counter('stt_frames_in_total', 'audio frames received, by outcome', ['outcome']);
  const decodeMs = metrics.histogram('stt_decode_ms', 'speech end detected → final text (final search pass), ms');
  const sessionsActive = metrics.gauge('stt_sessions_active', 'sessions with speech state in this replica');
  const partitionsOwned = metrics.gauge('stt_partitions_owned', 'audio partitions this replica serves');
  const queueDepth = metrics.gauge('stt_queue_depth', 'audio frames queued for processing, all sessions');
  const eventsOut = metrics.counter('stt_events_total', 'speech events produced, by type', ['type']);
  const endpoints = metrics.counter('stt_endpoints_total', 'utterance ends, by what ended them (words: read complete early; hangover; cut; short)', ['kind']);
  const noFinal = metrics.counter('stt_utterances_without_final_total', 'utterances that produced no STT_FINAL, by reason', ['reason']);
  const publishFailures = metrics.counter('stt_publish_failures_total', 'events given up after retries');
  const decoders = metrics.gauge('stt_decoders_in_use', 'speech decoders held by utterances');
  const micCommands = metrics.counter('stt_mic_commands_total', 'MIC_SET commands seen, by state and whether this replica owns the session', ['state', 'owned']);
  const frameMs = metrics.histogram('stt_frame_process_ms', 'one 20 ms frame through VAD + STT (incl. a final search pass), ms', [], [0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 250, 1000]);
  const hooks: SessionHooks = {
    frame: (outcome) => framesIn.inc({ outcome }),
    processed: (ms) => frameMs.observe(ms),
    event: (ev: RecognizerEvent) => {
      eventsOut.inc({ type: ev.type });
      if (ev.type === 'final') decodeMs.observe(ev.decodeMs);
      if (ev.type === 'no_final') noFinal.inc({ reason: ev.reason });
      if (ev.type === 'speech_ended') endpoints.inc({ kind: ev.endpoint.kind });
    },
    published: (ok) => {
      if (!ok) publishFailures.inc();
    },
  };

  const countSessions = (): number => [...served.values()].reduce((n, s) => n + s.sessions.size, 0);

  async function initSession(sessionId: string, firstSeq: number): Promise<SessionInit> {
    let mic = micMemory.get(sessionId)?.mic;
    if (mic === undefined) {
      // Not seen live (this replica started after the call's last MIC_SET): ask the command stream.
      const last = await readLastMic(bus, sessionId).catch((err: unknown) => {
        log.warn({ sessionId, err: (err as Error).message }, 'stt-adapter: reading the last MIC_SET failed; mic defaults to OPEN');
        return undefined;
      });
      if (last) micMemory.set(sessionId, last.mic, last.at);
      mic = micMemory.get(sessionId)?.mic ?? 'OPEN';
    }
    const { point, unfinishedSince } = await readResumePoint(bus, sessionId);
    if (unfinishedSince === undefined) return { mic, resume: point, firstUtterance: 0 };
    // Its last utterance has no final (the previous owner died while it was spoken or decoded):
    // hear it again from before its onset (detected VAD_ONSET_CONFIRM_MS late, with a preroll).
    // By the audio clock: the publish time is late by whatever backlog the previous owner had.
    const before = c.STT_PREROLL_MS + c.VAD_ONSET_CONFIRM_MS + REWIND_MARGIN_MS;
    const rewind = await readSessionAudio(bus, sessionId, {
      fromMs: unfinishedSince - before - REWIND_LAG_MS,
      fromAudioMs: (point.lastStart?.audioMs ?? 0) - before,
      beforeSeq: firstSeq,
      maxFrames: Math.ceil(c.STT_MAX_UTTERANCE_MS / 20) + 100,
    });
    log.info({ sessionId, utterance: point.lastStart?.utterance, frames: rewind.length }, 'stt-adapter: utterance without a final heard again from its onset');
    return { mic, resume: point, firstUtterance: 0, rewind };
  }

  function newSession(sessionId: string, partition: number, firstAudioMs: number, firstSeq: number): SessionWorker {
    return new SessionWorker({
      sessionId,
      partition,
      log: sessionLogger(log, sessionId, { partition }),
      sequencer: { reorderWindow: c.STT_REORDER_WINDOW, maxFillFrames: Math.floor(c.STT_MAX_GAP_FILL_MS / 20) },
      queueMax: c.STT_SESSION_QUEUE_MAX,
      host,
      init: async () => {
        try {
          return await initSession(sessionId, firstSeq);
        } catch (err) {
          // No resume point: number utterances from the audio clock so ids cannot collide with
          // those a previous owner used (its counter started at 0).
          log.warn({ sessionId, err: (err as Error).message }, 'stt-adapter: reading the session resume point failed');
          return { mic: micMemory.get(sessionId)?.mic ?? 'OPEN', firstUtterance: Math.floor(firstAudioMs / 20) };
        }
      },
      publish: async (event) => {
        await bus.publishEvent(event);
      },
      language: c.STT_LANGUAGE,
      hooks,
    });
  }

  function onAudio(s: Served, msg: JsMsg): void {
    let frame: AudioFrame;
    try {
      frame = decodeAudioFrame(msg.data);
    } catch (err) {
      framesIn.inc({ outcome: 'invalid' });
      log.debug({ subject: msg.subject, err: (err as Error).message }, 'stt-adapter: invalid audio frame dropped');
      return;
    }
    if (frame.sampleRate !== 16000 || frame.pcm.byteLength !== 640) {
      framesIn.inc({ outcome: 'unsupported_format' });
      return;
    }
    if (partitionOf(frame.sessionId, bus.partitions) !== s.partition || served.get(s.partition) !== s) {
      framesIn.inc({ outcome: 'not_owned' });
      return;
    }
    let w = s.sessions.get(frame.sessionId);
    if (!w) {
      if (micMemory.get(frame.sessionId)?.mic === 'CLOSED') {
        framesIn.inc({ outcome: 'mic_closed' });
        return;
      }
      w = newSession(frame.sessionId, s.partition, frame.audioMs, frame.seq);
      s.sessions.set(frame.sessionId, w);
      sessionsActive.set(countSessions());
    }
    w.pushFrame({ seq: frame.seq, audioMs: frame.audioMs, samples: pcmSamples(frame), source: frame.source });
  }

  async function dropSession(s: Served, w: SessionWorker, reason: string): Promise<void> {
    if (s.sessions.get(w.sessionId) !== w) return;
    s.sessions.delete(w.sessionId);
    sessionsActive.set(countSessions());
    log.debug({ sessionId: w.sessionId, reason }, 'stt-adapter: session state dropped');
    await w.close();
    // Let finals already decoded reach the stream (bounded: shutdown has a budget).
    await Promise.race([w.flushed(), new Promise((r) => setTimeout(r, 2_000).unref())]);
  }

  /** Until no session of the partition is mid-utterance or has audio queued (bounded). */
  async function untilQuiet(s: Served, budgetMs: number): Promise<void> {
    const t0 = Date.now();
    const busy = () => [...s.sessions.values()].filter((w) => w.busy).map((w) => w.sessionId);
    while (busy().length > 0 && Date.now() - t0 < budgetMs) await new Promise((r) => setTimeout(r, SWEEP_MS));
    const still = busy();
    if (still.length > 0) log.warn({ partition: s.partition, sessions: still, waitedMs: Date.now() - t0 }, 'stt-adapter: partition handed over mid-utterance (hand-over budget spent); the next owner hears it again');
    else if (Date.now() - t0 >= SWEEP_MS) log.info({ partition: s.partition, waitedMs: Date.now() - t0 }, 'stt-adapter: utterances finished before the partition was handed over');
  }

  const leases = new PartitionLeases({
    kv: await bus.kv(BUCKETS.leases),
    group: LEASE_GROUP,
    partitions: bus.partitions,
    replicaId,
    ttlMs: c.LEASE_TTL_MS,
    log,
    onAcquire: async (partition) => {
      const entry: Served = { partition, sub: undefined, sessions: new Map() };
      served.set(partition, entry);
      partitionsOwned.set(served.size);
      try {
        // Replay the last seconds: what a dead owner heard but never finished is heard again;
        // what it already published is recognised by the resume point and deduplicated.
        entry.sub = await subscribeOrdered(bus, {
          stream: STREAMS.audioIn,
          filter: subjects.audioInOfPartition(partition),
          startTimeMs: Date.now() - c.STT_REPLAY_MS,
          onMessage: (m) => onAudio(entry, m),
        });
      } catch (err) {
        served.delete(partition);
        partitionsOwned.set(served.size);
        throw err;
      }
    },
    onRelease: async (partition, reason) => {
      const s = served.get(partition);
      if (!s) return;
      // Handing over (the lease is still ours and renewed): finish what was heard first.
      if (reason === 'rebalance') await untilQuiet(s, c.STT_HANDOVER_MAX_MS);
      served.delete(partition);
      partitionsOwned.set(served.size);
      await s.sub?.stop();
      await Promise.all([...s.sessions.values()].map((w) => dropSession(s, w, `partition ${reason}`)));
      s.sessions.clear();
      sessionsActive.set(countSessions());
    },
  });

  function ownerOf(sessionId: string): { s: Served; w: SessionWorker } | undefined {
    const s = served.get(partitionOf(sessionId, bus.partitions));
    const w = s?.sessions.get(sessionId);
    return s && w ? { s, w } : undefined;
  }

  async function onMicSet(cmd: Command): Promise<void> {
    const mic = cmd.micSet ? micOf(cmd.micSet.state) : undefined;
    if (!mic) return;
    const applied = micMemory.set(cmd.sessionId, mic, cmd.timestamp);
    const own = ownerOf(cmd.sessionId);
    micCommands.inc({ state: mic, owned: own ? 'yes' : 'no' });
    if (!applied || !own) return;
    own.w.setMic(mic);
    if (mic === 'CLOSED') await dropSession(own.s, own.w, 'mic closed');
  }

  const micConsumerName = replicaConsumerName('stt-adapter-mic', replicaId);
  let micConsumer: ConsumerHandle | undefined;
  let sweeper: NodeJS.Timeout | undefined;

  function sweep(): void {
    const now = Date.now();
    for (const s of served.values()) {
      for (const w of s.sessions.values()) {
        const quiet = now - w.lastFrameAt;
        if (quiet >= c.STT_SESSION_IDLE_MS) void dropSession(s, w, 'no audio');
        else if (quiet >= HELD_BACK_FLUSH_MS && w.heldBack > 0) w.flushHeldBack();
      }
    }
    let queued = 0;
    for (const s of served.values()) for (const w of s.sessions.values()) queued += w.queued;
    queueDepth.set(queued);
    decoders.set(host.decodersInUse());
  }

  let started = false;
  return {
    micMemory,
    owned: () => [...served.keys()].sort((a, b) => a - b),
    sessions: () =>
      [...served.values()].flatMap((s) =>
        [...s.sessions.values()].map((w) => ({ sessionId: w.sessionId, partition: s.partition, ...w.describe() })),
      ),
    async start() {
      // Mic commands first: a partition's audio must not be judged with a mic state we missed.
      micConsumer = await consume(bus, {
        stream: STREAMS.cmd.stt,
        consumer: micConsumerName,
        config: fanOutConsumer(micConsumerName, subjects.commandsOfType('stt', 'MIC_SET')),
        decode: (m) => decodeCommand(m.data),
        keyOf: (cmd) => cmd.sessionId,
        maxInFlight: 64,
        handle: (cmd) => onMicSet(cmd),
      });
      sweeper = setInterval(sweep, SWEEP_MS);
      await leases.start();
      started = true;
      log.info({ partitions: bus.partitions, provider: opts.providerName, host: host.kind, startupMs: Date.now() - startedAt }, 'stt-adapter serving');
    },
    async stop() {
      if (sweeper) clearInterval(sweeper);
      // Hand partitions back first so another replica takes them over at once.
      await leases.stop();
      await micConsumer?.stop();
      await bus.jsm.consumers.delete(STREAMS.cmd.stt, micConsumerName).catch(() => undefined);
      await host.close();
    },
    ready: () => (started ? true : 'starting'),
  };
}
