// The stt-adapter service definition: config (zod, from env) → speech engines → component.
// A missing model stops the start-up with a message naming the variable to fix.
import type { ServiceDefinition } from '@switchboard/runtime';
import { SttAdapterConfigSchema } from './config';
import { BUILTIN_STT_PROVIDERS, createEngines, type SttProviderFactory } from './providers';
import { createSttAdapter } from './shell/adapter';

/** Builds the service with extra STT providers (e.g. a cloud client) selectable by STT_PROVIDER. */
export function makeSttAdapterService(
  extraProviders: Readonly<Record<string, SttProviderFactory>> = {},
): ServiceDefinition<typeof SttAdapterConfigSchema> {
  return {
    name: 'stt-adapter',
    schema: SttAdapterConfigSchema,
    defaults: { HTTP_PORT: '8082' },
    provision: true,
    async create(ctx) {
      const engines = await createEngines(ctx.config, ctx.log, { ...BUILTIN_STT_PROVIDERS, ...extraProviders });
      try {
        const adapter = await createSttAdapter(ctx, engines);
        return {
          ...adapter,
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
        await engines.close();
        throw err;
      }
    },
  };
}

export const sttAdapterService = makeSttAdapterService();
