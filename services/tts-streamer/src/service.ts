// The tts-streamer service definition: config (zod, from env) → flite engine → NATS shell.
import type { ServiceDefinition } from '@switchboard/runtime';
import { createFliteEngine, type TtsProvider } from '@switchboard/speech';
import { TtsConfigSchema, type TtsConfig } from './config';
import { createTtsStreamer } from './worker';

export interface TtsServiceDeps {
  /** Builds the engine (default: Flite). Tests wrap it to count synthesis calls. */
  createProvider?: (config: TtsConfig) => TtsProvider;
}

export function defineTtsStreamerService(deps: TtsServiceDeps = {}): ServiceDefinition<typeof TtsConfigSchema> {
  return {
    name: 'tts-streamer',
    schema: TtsConfigSchema,
    defaults: { HTTP_PORT: '8084' },
    provision: true,
    async create(ctx) {
      const c = ctx.config;
      const provider = deps.createProvider ? deps.createProvider(c) : createFliteEngine({ voice: c.TTS_VOICE });
      const streamer = await createTtsStreamer(ctx, provider, {
        aheadMs: c.TTS_AHEAD_MS,
        maxTextChars: c.TTS_MAX_TEXT_CHARS,
        cacheTexts: c.TTS_CACHE_TEXTS,
        cacheMaxEntries: c.TTS_CACHE_MAX_ENTRIES,
        maxInFlight: c.TTS_MAX_IN_FLIGHT,
        maxDeliver: c.TTS_MAX_DELIVER,
        speakMaxAgeMs: c.TTS_SPEAK_MAX_AGE_MS,
        ackWaitMs: c.TTS_ACK_WAIT_MS,
        sessionStallMs: c.TTS_SESSION_STALL_MS,
        cancelMemoryTtlMs: c.TTS_CANCEL_MEMORY_TTL_MS,
        cancelMemoryMax: c.TTS_CANCEL_MEMORY_MAX,
        cancelConsumerInactiveMs: c.TTS_CANCEL_CONSUMER_INACTIVE_MS,
        drainMs: c.TTS_DRAIN_MS,
      });
      return {
        ready: streamer.ready,
        start: () => streamer.start(),
        async stop() {
          try {
            await streamer.stop();
          } finally {
            provider.close();
          }
        },
      };
    },
  };
}

export const ttsStreamerService = defineTtsStreamerService();
