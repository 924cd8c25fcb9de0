// The sfu-gateway service definition: config (zod, from env) → gateway component.
// The call page and WebSocket signaling (/ws) share the service's HTTP server (HTTP_PORT, default
// 8080) with /healthz, /readyz, /metrics; TLS_CERT/TLS_KEY add an HTTPS listener (TLS_PORT).
import type { ServiceDefinition } from '@switchboard/runtime';
import { GatewayConfigSchema } from './config';
import { createGateway } from './gateway';

export const sfuGatewayService: ServiceDefinition<typeof GatewayConfigSchema> = {
  name: 'sfu-gateway',
  schema: GatewayConfigSchema,
  defaults: { HTTP_PORT: '8080' },
  provision: true,
  create: (ctx) => createGateway(ctx),
};
