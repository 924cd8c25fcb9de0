// The session-orchestrator service definition: config (zod, from env) → component.
import { z } from 'zod';
import type { ServiceDefinition } from '@switchboard/runtime';
import { parseFsmConfig } from './fsm';
import { createOrchestrator } from './shell/orchestrator';
import { startGrpcServer } from './shell/grpc';

const bool = z.enum(['0', '1', 'true', 'false']).transform((v) => v === '1' || v === 'true');

export const OrchestratorConfigSchema = z.object({
  GRPC_PORT: z.coerce.number().int().min(0).max(65535).default(50051),
  MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(10_000).default(256),
  /** Decisions (reduce → state written → commands published) worked on at once, all partitions together. */
  MAX_DECIDING: z.coerce.number().int().min(1).max(10_000).default(64),
  FILLER_AFTER_MS: z.coerce.number().int().positive().default(1200),
  NO_INPUT_MS: z.coerce.number().int().positive().default(8000),
  MAX_NO_INPUT: z.coerce.number().int().positive().default(2),
  TURN_TIMEOUT_MS: z.coerce.number().int().positive().default(10000),
  SKIP_INTENT: bool.default(false),
  HISTORY_TURNS: z.coerce.number().int().min(0).max(32).default(4),
});

export const orchestratorService: ServiceDefinition<typeof OrchestratorConfigSchema> = {
  name: 'session-orchestrator',
  schema: OrchestratorConfigSchema,
  defaults: { HTTP_PORT: '8081' },
  provision: true,
  async create(ctx) {
    const c = ctx.config;
    const orch = await createOrchestrator(ctx, {
      leaseTtlMs: c.LEASE_TTL_MS,
      maxInFlight: c.MAX_IN_FLIGHT,
      maxDeciding: c.MAX_DECIDING,
      fsmConfig: parseFsmConfig({
        fillerAfterMs: c.FILLER_AFTER_MS,
        noInputMs: c.NO_INPUT_MS,
        maxNoInput: c.MAX_NO_INPUT,
        turnTimeoutMs: c.TURN_TIMEOUT_MS,
        skipIntent: c.SKIP_INTENT,
        historyTurns: c.HISTORY_TURNS,
      }),
    });
    let grpcServer: { port: number; close(): Promise<void> } | undefined;
    return {
      ...orch,
      routes: async (req, res, url) => {
        if (url.pathname === '/grpc') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ port: grpcServer?.port ?? null }));
          return true;
        }
        return orch.routes ? orch.routes(req, res, url) : false;
      },
      async start() {
        grpcServer = await startGrpcServer(orch, c.GRPC_PORT, c.HTTP_HOST, ctx.log);
        await orch.start();
      },
      async stop() {
        await orch.stop();
        await grpcServer?.close();
      },
    };
  },
};
