// The stt-adapter service definition: config (zod, from env) → speech engines (in worker threads
// by default) → component. A missing model stops the start-up with a message naming the variable.
import type { ServiceDefinition } from '@switchboard/runtime';
import { SttAdapterConfigSchema, type SttAdapterConfig } from './config';
import type { RecognizerHost, RecognizerSettings } from './host/host';
import { createInlineHost } from './host/inline-host';
import { createWorkerHost } from './host/worker-host';
import { BUILTIN_STT_PROVIDERS, createEngines, type SttProviderFactory } from './providers';
import { createSttAdapter } from './shell/adapter';

export function recognizerSettings(c: SttAdapterConfig): RecognizerSettings {
  return {
    segmenter: {
      threshold: c.VAD_THRESHOLD,
      onsetConfirmMs: c.VAD_ONSET_CONFIRM_MS,
      hangoverMs: c.VAD_HANGOVER_MS,
      quietReleaseDb: c.VAD_QUIET_RELEASE_DB,
      fricativeOnset: { enabled: c.VAD_GATED_SIBILANT_TILT_DB > 0, minTiltDb: c.VAD_GATED_SIBILANT_TILT_DB },
    },
    prerollMs: c.STT_PREROLL_MS,
    partialEveryMs: c.STT_PARTIAL_EVERY_MS,
    maxUtteranceMs: c.STT_MAX_UTTERANCE_MS,
    gatedGraceMs: c.STT_GATED_GRACE_MS,
    resumeToleranceMs: c.STT_RESUME_TOLERANCE_MS,
    gatedOnsetConfirmMs: c.VAD_GATED_ONSET_CONFIRM_MS,
    earlyFinalMs: c.STT_EARLY_FINAL_MS,
    completeEndMs: c.STT_COMPLETE_END_MS,
    rejoinMs: c.STT_REJOIN_MS,
    language: c.STT_LANGUAGE,
  };
}

/**
 * Builds the service with extra STT providers (e.g. a cloud client) selectable by STT_PROVIDER.
 * Extra providers run on the main thread (a factory function cannot cross into a worker; a
 * network client does not need one); the built-in ones run in STT_WORKERS worker threads.
 */
export function makeSttAdapterService(
  extraProviders: Readonly<Record<string, SttProviderFactory>> = {},
): ServiceDefinition<typeof SttAdapterConfigSchema> {
  return {
    name: 'stt-adapter',
    schema: SttAdapterConfigSchema,
    defaults: { HTTP_PORT: '8082' },
    provision: true,
    async create(ctx) {
      const c = ctx.config;
      const settings = recognizerSettings(c);
      const extra = Object.hasOwn(extraProviders, c.STT_PROVIDER);
      let host: RecognizerHost;
      let notReady: string | undefined;
      if (c.STT_WORKERS > 0 && !extra) {
        host = await createWorkerHost(c, settings, c.STT_WORKERS, ctx.log, (reason) => {
          notReady = reason;
        });
      } else {
        host = createInlineHost(await createEngines(c, ctx.log, { ...BUILTIN_STT_PROVIDERS, ...extraProviders }), settings);
      }
      try {
        const adapter = await createSttAdapter(ctx, host, { providerName: c.STT_PROVIDER });
        return {
          ...adapter,
          ready: () => notReady ?? adapter.ready(),
          routes: (req, res, url) => {
            if (req.method === 'GET' && url.pathname === '/sessions') {
              res.writeHead(200, { 'content-type': 'application/json' });
              res.end(JSON.stringify({ partitions: adapter.owned(), sessions: adapter.sessions() }));
              return true;
            }
            return false;
          },
        };
      } catch (err) {
        await host.close();
        throw err;
      }
    },
  };
}

export const sttAdapterService = makeSttAdapterService();
