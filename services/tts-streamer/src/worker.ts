// The tts-streamer's NATS shell. TTS_SPEAK comes from one durable consumer shared by every
// replica (any replica takes the next utterance; one at a time per session, so two utterances of
// a call never interleave their frames); TTS_CANCEL is fanned out to every replica (each aborts
// the utterance if it streams it here, and remembers the cancel in case the speak comes later).
// Events carry ids derived from the command id; audio frames are core publishes.
import { performance } from 'node:perf_hooks';
import { DeliverPolicy, type JsMsg } from '@nats-io/jetstream';
import { DeliveryLost, consume, replicaConsumerName, durableConsumer, fanOutConsumer, errorCode, isRetryable, type ConsumerHandle, type HandlerContext } from '@switchboard/bus';
import { AudioFrame, STREAMS, decodeCommandOf, subjects, type Command } from '@switchboard/contracts';
import type { ServiceComponent, ServiceContext } from '@switchboard/runtime';
import { concatPcm, type TtsNote, type TtsProvider } from '@switchboard/speech';
import { sessionLogger, type Logger } from '@switchboard/telemetry';
import { CancelRegistry, ExpiringSet, UtteranceCancelled } from './cancels';
import { ttsDone, ttsError, ttsStarted, type EventMeta, type SpeakRef } from './events';
import { PromptCache, cachedChunks, type CachedUtterance } from './prompt-cache';
import { resumeOf, startedReader, strictLastFrameReader, waitForTurnToSpeak, type LastFrame, type Resume } from './session-audio';
import { FRAME_MS, streamFrames } from './stream';

export interface TtsStreamerOptions {
  aheadMs: number;
  maxTextChars: number;
  /** cache key → text, synthesized at start. */
  cacheTexts: Readonly<Record<string, string>>;
  cacheMaxEntries: number;
  maxInFlight: number;
  maxDeliver: number;
  backoffMs?: readonly number[];
  /** ack_wait of the speak consumer: how soon a dead replica's speak goes to another replica. */
  ackWaitMs: number;
  /** Another replica's utterance of the same call whose frames stopped this long ago is taken as dead. */
  sessionStallMs: number;
  speakMaxAgeMs: number;
  cancelMemoryTtlMs: number;
  cancelMemoryMax: number;
  cancelConsumerInactiveMs: number;
  drainMs: number;
}

export interface TtsStreamer extends ServiceComponent {
  readonly cache: PromptCache;
  readonly cancels: CancelRegistry;
  readonly cancelConsumer: string;
}

export const SPEAK_CONSUMER = 'tts-streamer';

/** Consumer names cannot contain dots (a replica id may: it comes from the host name). */
export function cancelConsumerName(replicaId: string): string {
  return replicaConsumerName('tts-streamer-cancel', replicaId);
}

class ShuttingDown extends Error {
  readonly code = 'shutting_down';
  readonly retryable = true;
}

function decodeOf(type: 'TTS_SPEAK' | 'TTS_CANCEL'): (m: JsMsg) => Command {
  const decode = decodeCommandOf(type);
  return (m) => decode(m.data, m.subject);
}

/**
 * Drops leading near-silence (below about −40 dBFS), keeping `keepMs` before the onset. 5 ms, not
 * 20: flite's first loud sample comes 0–38 ms before the sound is audible (RMS −34 dBFS), so each
 * kept millisecond before it is a millisecond the caller waits (8 flite slt replies, 2026-12-06:
 * the 20 ms before the onset peaked at 200–325, under −40 dBFS).
 */
export function trimLeadingSilence(pcm: Int16Array, sampleRate: number, threshold = 330, keepMs = 5): Int16Array {
  let i = 0;
  while (i < pcm.length && Math.abs(pcm[i]!) < threshold) i++;
  if (i >= pcm.length) return pcm; // all quiet: leave it alone
  const from = Math.max(0, i - Math.round((keepMs * sampleRate) / 1000));
  return from === 0 ? pcm : pcm.subarray(from);
}

/** Caps text at `max` code points, cutting at the last space in the window when there is one. */
export function limitText(text: string, max: number): { text: string; cut: boolean } {
  const cps = Array.from(text);
  if (cps.length <= max) return { text, cut: false };
  const head = cps.slice(0, max).join('');
  const space = head.search(/\s\S*$/u);
  return { text: (space > head.length * 0.6 ? head.slice(0, space) : head).trimEnd(), cut: true };
}

/** This speak went out before (all of it, or until it was cut or superseded): it is not spoken again. */
class NotSpokenAgain extends Error {
  constructor(
    readonly resume: Exclude<Resume, { readonly from: number }>,
    readonly last: LastFrame | undefined | 'unreadable',
  ) {
    super('speak went out before; not spoken again');
  }
}

/** Holds the first chunk back until `gate` resolves (the gate runs while the engine synthesizes). */
async function* after(gate: Promise<unknown>, source: AsyncIterable<Int16Array>): AsyncGenerator<Int16Array> {
  let first = true;
  for await (const chunk of source) {
    if (first) await gate;
    first = false;
    yield chunk;
  }
}

async function* collecting(source: AsyncIterable<Int16Array>, into: Int16Array[]): AsyncGenerator<Int16Array> {
  for await (const chunk of source) {
    into.push(chunk);
    yield chunk;
  }
}

export async function createTtsStreamer(ctx: ServiceContext<unknown>, provider: TtsProvider, opts: TtsStreamerOptions): Promise<TtsStreamer> {
  const { bus, log, metrics } = ctx;
  const cache = new PromptCache(opts.cacheMaxEntries);
  const cancels = new CancelRegistry({ ttlMs: opts.cancelMemoryTtlMs, maxEntries: opts.cancelMemoryMax });
  // A redelivered speak (lost ack) that this replica already streamed is not spoken twice.
  const spoken = new ExpiringSet({ ttlMs: 10 * 60_000, maxEntries: 10_000 });
  const cancelConsumer = cancelConsumerName(ctx.replicaId);
  // A replica frozen past ack_wait before its first frame has lost the speak to another replica
  // (found by the pipeline slow-consumer run: two replicas streamed the same answer, interleaved).
  const loopGaps = bus.loopGaps;
  const readLastStrict = strictLastFrameReader(bus);
  /** The last frame for a resume decision: a failed read is retried, then said to be unreadable. */
  const readLastForResume = async (sessionId: string, signal: AbortSignal): Promise<LastFrame | undefined | 'unreadable'> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await readLastStrict(sessionId);
      } catch {
        if (attempt >= 3 || signal.aborted) return 'unreadable';
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  };
  const startedBefore = startedReader(bus);

  const ttfa = metrics.histogram('tts_time_to_first_audio_ms', 'speak command timestamp → first audio frame published', ['source', 'kind']);
  const synthFirst = metrics.histogram('tts_synthesis_first_chunk_ms', 'speak handled → first sentence synthesized (cache misses)');
  const framesOut = metrics.counter('tts_frames_out_total', '20 ms audio frames published');
  const utterances = metrics.counter('tts_utterances_total', 'speak commands handled, by outcome', ['outcome']);
  const cacheHits = metrics.counter('tts_cache_hits_total', 'speaks served from the prompt cache', ['key']);
  const cacheMisses = metrics.counter('tts_cache_misses_total', 'speaks with a cache key not (yet) cached', ['key']);
  const cancelsTotal = metrics.counter('tts_cancels_total', 'TTS_CANCEL commands seen by this replica', ['outcome']);
  const unspeakable = metrics.counter('tts_unspeakable_total', 'runs of text the voice could not speak (skipped)');
  const failures = metrics.counter('tts_failures_total', 'speak failures (last=true: the turn got an ERROR event)', ['code', 'last']);
  const inFlight = metrics.gauge('tts_utterances_in_flight', 'utterances streaming on this replica');
  const remembered = metrics.gauge('tts_cancel_memory_entries', 'recently cancelled turns/utterances remembered (bounded)');
  const cacheSize = metrics.gauge('tts_cache_entries', 'utterances in the prompt cache');

  let speaks: ConsumerHandle | undefined;
  let cancelHandle: ConsumerHandle | undefined;
  let state: 'created' | 'warming' | 'running' | 'stopping' | 'stopped' = 'created';

  async function synthesizeAll(text: string): Promise<{ pcm: Int16Array; notes: readonly TtsNote[] }> {
    const synthesis = provider.synthesize(text, ctx.signal);
    const chunks: Int16Array[] = [];
    for await (const c of synthesis) chunks.push(c);
    return { pcm: concatPcm(chunks), notes: synthesis.notes };
  }

  async function warmCache(): Promise<void> {
    for (const [key, text] of Object.entries(opts.cacheTexts)) {
      const t0 = performance.now();
      const { pcm, notes } = await synthesizeAll(text);
      if (pcm.length === 0) {
        log.warn({ cacheKey: key, transcript: text, notes: notes.length }, 'cache text has nothing the voice can speak; not cached');
        continue;
      }
      cache.set({ key, text, pcm: trimLeadingSilence(pcm, provider.sampleRate), sampleRate: provider.sampleRate, pinned: true });
      log.debug({ cacheKey: key, audioMs: Math.round((pcm.length / provider.sampleRate) * 1000), synthMs: Math.round(performance.now() - t0) }, 'prompt cached');
    }
    cacheSize.set(cache.size);
  }

  /** A cancelled utterance has no last frame: its frames just stop. */
  const finished = (sessionId: string, f: LastFrame): boolean => f.last || cancels.isCancelled({ sessionId, turnId: f.turnId, speakId: f.speakId });

  /** A delivery of a speak that went out before (all of it, or until it was cut): nothing is spoken again. */
  async function reportNotSpokenAgain(ref: SpeakRef, e: NotSpokenAgain, slog: Logger): Promise<void> {
    const r = e.resume;
    const audioMs = 'done' in r && e.last && e.last !== 'unreadable' ? (e.last.seq + 1) * FRAME_MS : 0;
    const outcome = 'done' in r ? 'already_spoken' : 'superseded' in r ? 'superseded' : 'resume_unknown';
    utterances.inc({ outcome });
    if (outcome === 'resume_unknown') slog.warn({ resume: outcome, unreadable: e.last === 'unreadable' }, 'redelivered speak had started but its frames cannot be read: reported cut, not spoken again from the start');
    else slog.info({ resume: outcome }, 'redelivered speak not spoken again');
    if ('done' in r) await bus.publishEvent(ttsStarted(ref, 0));
    const cut = !('done' in r);
    await bus.publishEvent(ttsDone(ref, audioMs, cut, cut ? { reason: outcome } : {}));
  }

  async function speakOnce(cmd: Command, msg: JsMsg, h: HandlerContext): Promise<void> {
    // From when this replica took it, not when its handler began: frozen while it waited behind the
    // session's previous speak counts too (the pipeline slow-consumer run's turn_92 streamed twice).
    const takenAt = h.heldSince;
    const s = cmd.ttsSpeak!;
    const ref: SpeakRef = { commandId: cmd.commandId, sessionId: cmd.sessionId, turnId: s.turnId || cmd.correlationId, speakId: s.speakId, kind: s.kind };
    const slog = sessionLogger(log, cmd.sessionId, { turnId: ref.turnId, speakId: ref.speakId, commandId: cmd.commandId, delivery: h.deliveryCount, streamSeq: h.seq });
    // Not started yet and this replica is stopping: hand it back for another replica.
    if (h.signal.aborted || state !== 'running') throw new ShuttingDown('tts-streamer is stopping');
    // Read after this replica was stalled past ack_wait (the server sent it meanwhile): another
    // replica may be streaming it already (pipeline slow-consumer run: two replicas streamed one
    // speak, the second resuming after the first one's frames while the first kept sending).
    if (!h.owned()) {
      utterances.inc({ outcome: 'lost_before_start' });
      throw new DeliveryLost('speak read after a stall longer than ack_wait: left to the replica the server gives it to');
    }
    if (spoken.has(cmd.commandId)) {
      slog.debug('speak already streamed by this replica (redelivery); not repeated');
      return;
    }
    const ageMs = Date.now() - cmd.timestamp;
    if (ageMs > opts.speakMaxAgeMs) {
      utterances.inc({ outcome: 'stale' });
      slog.warn({ ageMs, maxAgeMs: opts.speakMaxAgeMs }, 'speak command too old to be spoken; reported as cancelled');
      await bus.publishEvent(ttsDone(ref, 0, true, { reason: 'stale' }));
      return;
    }
    const live = cancels.begin(ref);
    if (!live) {
      utterances.inc({ outcome: 'cancelled_before_start' });
      slog.info('speak skipped: the turn/utterance was already cancelled');
      await bus.publishEvent(ttsDone(ref, 0, true, { reason: 'cancelled_before_start' }));
      return;
    }
    // One utterance of a call at a time across replicas: wait until the session's latest frames
    // end or stop — another utterance's, or this one's from a replica still streaming it (see below).
    const turnToSpeak = waitForTurnToSpeak(() => readLastForResume(ref.sessionId, live.signal), {
      stallMs: opts.sessionStallMs,
      pollMs: 40,
      budgetMs: opts.speakMaxAgeMs,
      signal: live.signal,
      finished: (f) => finished(ref.sessionId, f),
    });
    // Then where this delivery starts, from the frame that wait read last and this speak's
    // TTS_STARTED — decided on every delivery, not only when the delivery count says
    // "redelivered": nats-server 2.9.10 hands some redeliveries out with a count of 1, and may hand
    // a message out again while its first replica still streams it (nats-server#5305/#5338, fixed
    // in 2.10.14; a CI run had a speak cut by kill -9 spoken again from frame 0 by the next
    // replica). This runs while the engine synthesizes the first sentence, and no frame goes out
    // before it answers.
    let startSeq = 0;
    const gate = turnToSpeak.then(async ({ last }) => {
      const r = resumeOf(last, ref.speakId, await startedBefore(ref.sessionId, cmd.commandId));
      if (!('from' in r)) throw new NotSpokenAgain(r, last);
      startSeq = r.from;
      if (startSeq > 0) slog.info({ startSeq }, 'redelivered speak resumes after the frames already sent');
    });
    gate.catch(() => undefined); // awaited with the first chunk; a speak with nothing to say never asks
    inFlight.inc();
    const handledAt = performance.now();
    let framesSent = 0;
    let text = '';
    try {
      const key = s.cacheKey;
      const cached: CachedUtterance | undefined = key ? cache.get(key) : undefined;
      let chunks: AsyncIterable<Int16Array>;
      let notes: readonly TtsNote[] = [];
      let collected: Int16Array[] | undefined;
      if (cached) {
        text = cached.text;
        cacheHits.inc({ key });
        slog.debug({ cacheKey: key, textDiffers: s.text !== '' && s.text !== cached.text }, 'served from cache');
        chunks = after(gate, cachedChunks(cached.pcm));
      } else {
        if (key) cacheMisses.inc({ key });
        const limited = limitText(s.text, opts.maxTextChars);
        text = limited.text;
        if (limited.cut) slog.warn({ chars: s.text.length, maxChars: opts.maxTextChars }, 'speak text too long; cut');
        const synthesis = provider.synthesize(text, live.signal);
        notes = synthesis.notes;
        if (notes.length > 0) {
          unspeakable.inc(notes.length);
          slog.warn(
            { notes: notes.map((n) => ({ code: n.code, sentenceIndex: n.sentenceIndex })), transcript: notes.map((n) => n.text), voice: provider.name },
            'text the voice cannot speak was skipped',
          );
        }
        let first = true;
        const timed = async function* (): AsyncGenerator<Int16Array> {
          for await (const c of synthesis) {
            if (first) synthFirst.observe(performance.now() - handledAt);
            // The voice starts every utterance with ~240 ms of silence: the caller would wait for it.
            yield first ? trimLeadingSilence(c, provider.sampleRate) : c;
            first = false;
          }
        };
        collected = key ? [] : undefined;
        chunks = after(gate, collected ? collecting(timed(), collected) : timed());
      }
      // Skipped text rides along in event metadata (verbatim, capped), so the call's timeline
      // shows what was not said.
      const meta: EventMeta = notes.length > 0 ? { unspeakable: notes.map((n) => n.text).join(' ') } : {};
      if (cached) meta['cacheKey'] = cached.key;
      let ttfaMs = 0;
      let started: Promise<unknown> | undefined;
      const result = await streamFrames(chunks, {
        sampleRate: provider.sampleRate,
        aheadMs: opts.aheadMs,
        signal: live.signal,
        startSeq: () => startSeq,
        // Frozen for half the ack_wait: hand it back while that is still safe (see below).
        maxLateMs: h.ackWaitMs / 2,
        stillOwned: () => h.owned() && loopGaps.maxGapSince(takenAt) < h.ackWaitMs / 2,
        emit: (f) => {
          bus.publishAudioOut(
            AudioFrame.fromPartial({
              sessionId: ref.sessionId,
              seq: f.seq,
              audioMs: f.audioMs,
              sampleRate: provider.sampleRate,
              pcm: f.pcm,
              turnId: ref.turnId,
              speakId: ref.speakId,
              kind: ref.kind,
              last: f.last,
              capturedAt: f.capturedAt,
            }),
          );
          framesSent++;
          framesOut.inc();
        },
        onFirstFrame: (at) => {
          ttfaMs = at - cmd.timestamp;
          ttfa.observe({ source: cached ? 'cache' : 'synth', kind: ref.kind }, ttfaMs);
          started = bus.publishEvent(ttsStarted(ref, ttfaMs, meta));
        },
      });
      if (started) await started;
      if (result.frozen) {
        if (!h.owned()) {
          // ack_wait may have passed during the freeze: the server has given it to another replica,
          // which continues after the last frame out. A nak now would hand it to a third one while
          // the second streams (the slow-consumer run's turn_38/turn_163), so leave it be.
          utterances.inc({ outcome: 'lost_frozen' });
          throw new DeliveryLost(`frozen mid-utterance past ack_wait after ${framesSent} frames`);
        }
        // Still ours: hand it back at once; whichever replica takes it continues after the last frame out.
        utterances.inc({ outcome: 'handed_back_frozen' });
        slog.warn({ framesSent }, 'this replica was frozen mid-utterance; speak handed back to continue elsewhere');
        msg.nak();
        return;
      }
      if (result.cancelled) {
        const reason = live.signal.reason instanceof UtteranceCancelled ? live.signal.reason.reason : 'cancel';
        utterances.inc({ outcome: 'cancelled' });
        await bus.publishEvent(ttsDone(ref, result.audioMs, true, { ...meta, reason }));
        slog.info({ audioMs: result.audioMs, frames: result.frames, reason, transcript: text }, 'utterance cancelled; no more frames');
      } else if (result.frames === 0) {
        // Nothing speakable (e.g. Telugu for an English voice): report an empty utterance so
        // the orchestrator does not wait for audio that will never come.
        utterances.inc({ outcome: 'empty' });
        await bus.publishEvent(ttsStarted(ref, Date.now() - cmd.timestamp, meta));
        await bus.publishEvent(ttsDone(ref, 0, false, { ...meta, empty: 'true' }));
        slog.warn({ transcript: s.text }, 'nothing speakable in the utterance; reported as empty');
      } else {
        utterances.inc({ outcome: 'done' });
        await bus.publishEvent(ttsDone(ref, result.audioMs, false, meta));
        if (collected && key && collected.length > 0) {
          cache.set({ key, text, pcm: concatPcm(collected), sampleRate: provider.sampleRate, pinned: false });
          cacheSize.set(cache.size);
        }
        slog.info(
          { audioMs: result.audioMs, frames: result.frames, ttfaMs: Math.round(ttfaMs), cached: cached !== undefined, handledMs: Math.round(performance.now() - handledAt), transcript: text },
          'utterance streamed',
        );
      }
      spoken.add(cmd.commandId);
    } catch (err) {
      if (err instanceof NotSpokenAgain) {
        await reportNotSpokenAgain(ref, err, slog);
        spoken.add(cmd.commandId);
        return;
      }
      if (err instanceof DeliveryLost) {
        slog.warn({ framesSent, err: err.message }, 'speak no longer this replica\'s (ack_wait passed while frozen): stopped, left to the server');
        throw err;
      }
      const code = errorCode(err);
      const retryable = isRetryable(err);
      // Once audio went out, a retry would replay it from the start: report the error instead.
      const last = framesSent > 0 || !retryable || h.deliveryCount >= opts.maxDeliver;
      failures.inc({ code, last: String(last) });
      slog.error({ code, err: (err as Error).message, framesSent, delivery: h.deliveryCount, last }, 'speak failed');
      if (last) {
        await bus.publishEvent(ttsError(ref, code, (err as Error).message, retryable)).catch((e: unknown) => {
          slog.error({ err: (e as Error).message }, 'ERROR event publish failed');
        });
        if (framesSent > 0) return;
      }
      throw err;
    } finally {
      cancels.end(live);
      inFlight.dec();
    }
  }

  async function onCancel(cmd: Command): Promise<void> {
    const c = cmd.ttsCancel!;
    const r = cancels.cancel({ sessionId: cmd.sessionId, turnId: c.turnId, speakId: c.speakId, reason: c.reason });
    cancelsTotal.inc({ outcome: r.outcome });
    remembered.set(cancels.remembered);
    sessionLogger(log, cmd.sessionId, { turnId: c.turnId, speakId: c.speakId }).info({ reason: c.reason, outcome: r.outcome, aborted: r.aborted }, 'tts cancel');
  }

  return {
    cache,
    cancels,
    cancelConsumer,
    ready: () => (state === 'running' ? true : state === 'warming' ? 'synthesizing the prompt cache' : `tts-streamer ${state}`),
    async start() {
      state = 'warming';
      const t0 = performance.now();
      await warmCache();
      log.info({ cached: cache.keys(), ms: Math.round(performance.now() - t0), voice: provider.name }, 'prompt cache ready');
      // Cancels first: a cancel must never find this replica without its consumer.
      cancelHandle = await consume(bus, {
        stream: STREAMS.cmd.tts,
        consumer: cancelConsumer,
        // A new replica first replays the cancels of the last speakMaxAge: a speak redelivered to
        // it (its replica died) may belong to a turn cancelled before this replica existed.
        config: {
          ...fanOutConsumer(cancelConsumer, subjects.commandsOfType('tts', 'TTS_CANCEL'), opts.cancelConsumerInactiveMs),
          deliver_policy: DeliverPolicy.StartTime,
          opt_start_time: new Date(Date.now() - opts.speakMaxAgeMs - 5_000).toISOString(),
        },
        decode: decodeOf('TTS_CANCEL'),
        handle: onCancel,
        maxInFlight: 64,
        maxDeliver: 3,
      });
      state = 'running';
      speaks = await consume(bus, {
        stream: STREAMS.cmd.tts,
        consumer: SPEAK_CONSUMER,
        config: durableConsumer(SPEAK_CONSUMER, subjects.commandsOfType('tts', 'TTS_SPEAK'), { ack_wait: opts.ackWaitMs * 1_000_000 }),
        decode: decodeOf('TTS_SPEAK'),
        keyOf: (c) => c.sessionId,
        handle: speakOnce, // consume() keeps it alive every third of the (short) ack_wait while held
        maxInFlight: opts.maxInFlight,
        maxDeliver: opts.maxDeliver,
        backoffMs: opts.backoffMs ?? [200, 1_000],
      });
    },
    async stop() {
      if (state === 'stopped' || state === 'stopping') return;
      state = 'stopping';
      // Utterances already streaming finish (handing them back would replay them from the
      // start on another replica); past the drain budget they are cut and reported cancelled.
      const cut = setTimeout(() => {
        for (const u of cancels.live()) u.abort('shutdown');
      }, opts.drainMs);
      try {
        await speaks?.stop();
      } finally {
        clearTimeout(cut);
      }
      // Cancels keep flowing while utterances drain.
      await cancelHandle?.stop();
      state = 'stopped';
    },
  };
}
