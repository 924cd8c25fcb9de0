// Shared by the tts-streamer's integration tests: a real nats-server, a producer that sends
// commands as the orchestrator does, recorders of every audio-out frame (ordered consumer on
// VOICE_AUDIO_OUT) and every event (VOICE_EVENTS), and a provider wrapper that counts synthesis.
import { performance } from 'node:perf_hooks';
import { DeliverPolicy } from '@nats-io/jetstream';
import { Bus, provision, subscribeOrdered, type OrderedSubscription } from '@switchboard/bus';
import {
  STREAMS,
  SpeakKind,
  decodeAudioFrame,
  decodeEvent,
  makeCommand,
  newId,
  subjects,
  type AudioFrame,
  type Command,
  type Event,
} from '@switchboard/contracts';
import type { TtsProvider, TtsSynthesis } from '@switchboard/speech';
import { createLogger } from '@switchboard/telemetry';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { eventually, spawnNode, startNatsServer, type ChildHandle, type NatsServerHandle } from '@switchboard/testkit';
import { trimLeadingSilence } from '../src/worker';

export async function producerBus(url: string, partitions = 16): Promise<Bus> {
  const bus = await Bus.connect({ servers: url, service: 'test-producer', log: createLogger({ service: 'test-producer', level: 'warn' }), partitions });
  await provision(bus.nc, bus.jsm, { leaseTtlMs: 1000 });
  return bus;
}

export function ttsEnv(url: string, extra: Record<string, string> = {}): Record<string, string> {
  return { NATS_URL: url, HTTP_PORT: '0', HTTP_HOST: '127.0.0.1', PARTITIONS: '16', LOG_LEVEL: 'debug', ...extra };
}

export interface ReceivedFrame {
  frame: AudioFrame;
  /** performance.now() when the test received it */
  at: number;
}

/** Every agent-audio frame published from now on, by session. */
export class AudioRecorder {
  readonly frames: ReceivedFrame[] = [];
  #sub: OrderedSubscription | undefined;

  static async start(bus: Bus): Promise<AudioRecorder> {
    const r = new AudioRecorder();
    r.#sub = await subscribeOrdered(bus, {
      stream: STREAMS.audioOut,
      filter: subjects.audioOutAll,
      onMessage: (m) => r.frames.push({ frame: decodeAudioFrame(m.data), at: performance.now() }),
    });
    return r;
  }

  of(sessionId: string, speakId?: string): ReceivedFrame[] {
    return this.frames.filter((f) => f.frame.sessionId === sessionId && (speakId === undefined || f.frame.speakId === speakId));
  }

  async stop(): Promise<void> {
    await this.#sub?.stop();
  }
}

export interface ReceivedEvent {
  event: Event;
  at: number;
}

/** Every event on VOICE_EVENTS from now on. */
export class EventRecorder {
  readonly events: ReceivedEvent[] = [];
  #stop: (() => Promise<void>) | undefined;

  static async start(bus: Bus): Promise<EventRecorder> {
    const r = new EventRecorder();
    const c = await bus.js.consumers.get(STREAMS.events, { deliver_policy: DeliverPolicy.New, filter_subjects: subjects.eventsAll });
    const msgs = await c.consume({
      callback: (m) => {
        r.events.push({ event: decodeEvent(m.data), at: performance.now() });
      },
    });
    r.#stop = async () => void (await msgs.close());
    return r;
  }

  of(sessionId: string, type?: string): Event[] {
    return this.events.filter((e) => e.event.sessionId === sessionId && (type === undefined || e.event.eventType === type)).map((e) => e.event);
  }

  async stop(): Promise<void> {
    await this.#stop?.();
  }
}

export interface SpeakInit {
  sessionId: string;
  turnId?: string;
  speakId?: string;
  text?: string;
  kind?: SpeakKind;
  cacheKey?: string;
  timestamp?: number;
}

/** Publishes TTS_SPEAK as the orchestrator does; returns the ids and the command timestamp. */
export async function speak(bus: Bus, init: SpeakInit): Promise<{ commandId: string; turnId: string; speakId: string; timestamp: number; command: Command }> {
  const turnId = init.turnId ?? newId('turn');
  const speakId = init.speakId ?? `${turnId}:answer`;
  const commandId = newId('cmd');
  const timestamp = init.timestamp ?? Date.now();
  const command = makeCommand('TTS_SPEAK', { sessionId: init.sessionId, source: 'test', commandId, correlationId: turnId, timestamp }, {
    turnId,
    speakId,
    text: init.text ?? '',
    kind: init.kind ?? SpeakKind.SPEAK_KIND_ANSWER,
    cacheKey: init.cacheKey ?? '',
  });
  await bus.publishCommand('tts', command);
  return { commandId, turnId, speakId, timestamp, command };
}

/**
 * Stores a command again as a new stream message (another dedup id): the durable consumer hands it
 * out with a delivery count of 1, as nats-server 2.9.10 does with some redeliveries
 * (nats-server#5305/#5338).
 */
export async function publishAgain(bus: Bus, command: Command): Promise<void> {
  await bus.publishCommand('tts', command, { msgId: `${command.commandId}:again` });
}

export async function cancel(bus: Bus, sessionId: string, turnId: string, speakId = '', reason = 'barge_in'): Promise<void> {
  await bus.publishCommand(
    'tts',
    makeCommand('TTS_CANCEL', { sessionId, source: 'test', commandId: newId('cmd'), correlationId: turnId }, { turnId, speakId, reason }),
  );
}

export interface SynthesisCall {
  text: string;
  samples: number;
  /** Date.now() when each sentence's audio came out of the engine */
  chunkAt: number[];
}

/** Wraps a provider: records every synthesize call and the samples the streamer will send of it. */
export function countingProvider(inner: TtsProvider, opts: { closeInner?: boolean } = {}): { provider: TtsProvider; calls: SynthesisCall[] } {
  const calls: SynthesisCall[] = [];
  const provider: TtsProvider = {
    name: inner.name,
    sampleRate: inner.sampleRate,
    synthesize(text: string, signal: AbortSignal): TtsSynthesis {
      const call: SynthesisCall = { text, samples: 0, chunkAt: [] };
      calls.push(call);
      const s = inner.synthesize(text, signal);
      return {
        notes: s.notes,
        async *[Symbol.asyncIterator]() {
          for await (const c of s) {
            // what the streamer sends: the first chunk loses its leading silence
            call.samples += call.chunkAt.length === 0 ? trimLeadingSilence(c, inner.sampleRate).length : c.length;
            call.chunkAt.push(Date.now());
            yield c;
          }
        },
      };
    },
    close: () => {
      if (opts.closeInner !== false) inner.close();
    },
  };
  return { provider, calls };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

export const fmt = (xs: readonly number[]): string => xs.map((x) => x.toFixed(1)).join(', ');

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

/**
 * tts-streamer processes on one nats-server, with a producer bus and recorders of every frame and
 * event: for the tests that kill -9 or SIGSTOP a real replica.
 */
export class SpawnedReplicas {
  readonly children: ChildHandle[] = [];

  private constructor(
    readonly server: NatsServerHandle,
    readonly bus: Bus,
    readonly audio: AudioRecorder,
    readonly events: EventRecorder,
  ) {}

  static async start(): Promise<SpawnedReplicas> {
    const server = await startNatsServer();
    const bus = await producerBus(server.url);
    return new SpawnedReplicas(server, bus, await AudioRecorder.start(bus), await EventRecorder.start(bus));
  }

  /** Starts replica `id` (ttsEnv + `env`) and waits until it is ready; `logFile` keeps its output when it exits. */
  async spawn(id: string, env: Record<string, string>, logFile?: string): Promise<ChildHandle> {
    const child = spawnNode(MAIN, { env: ttsEnv(this.server.url, { REPLICA_ID: id, ...env }) });
    this.children.push(child);
    if (logFile) void child.exited.then(() => writeFileSync(logFile, child.lines.join('\n')));
    await child.waitForLine(/tts-streamer ready/, 60_000);
    return child;
  }

  /** The frame sequence numbers of a speak, in the order they arrived. */
  seqsOf(sessionId: string, speakId: string): number[] {
    return this.audio.of(sessionId, speakId).map((f) => f.frame.seq);
  }

  done(sessionId: string, speakId: string): Promise<Event> {
    return eventually(() => this.events.of(sessionId, 'TTS_DONE').find((e) => e.ttsDone?.speakId === speakId), `TTS_DONE ${speakId}`, 60_000);
  }

  /** Kills every replica (resumed first, in case a test left it SIGSTOPped), then the rest. */
  async stop(): Promise<void> {
    for (const c of this.children) {
      try {
        process.kill(c.pid, 'SIGCONT');
      } catch {
        // gone already
      }
      await c.kill('SIGKILL').catch(() => undefined);
    }
    await this.audio.stop();
    await this.events.stop();
    await this.bus.drain();
    await this.server.stop();
  }
}
