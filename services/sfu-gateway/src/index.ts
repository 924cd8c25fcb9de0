// @switchboard/sfu-gateway: WebRTC calls (mediasoup), signaling, the call page, and the bridge
// between browser audio and the bus.
export { sfuGatewayService } from './service';
export { GatewayConfigSchema, type GatewayConfig } from './config';
export { createGateway, type Gateway, type CallSummary } from './gateway';
export { signToken, verifyToken, mintToken, type TokenClaims, type TokenRole } from './signaling/tokens';
export { SignalingError, type SignalingErrorCode } from './signaling/errors';
export { parseClientMessage, type ClientMessage, type ServerMessage, type SessionUpdateView } from './signaling/protocol';
export { createWorkerPool, createCallMedia, MediaError } from './media/index';
export type { WorkerPool, CallMedia, CallMediaConfig, CallerFrame, MicState } from './media/index';
