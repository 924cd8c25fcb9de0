// @switchboard/sfu-gateway — the media layer is ready; signaling and the NATS bridge come next.
export { createWorkerPool, createCallMedia, MediaError } from './media/index';
export type { WorkerPool, CallMedia, CallMediaConfig, CallerFrame, MicState } from './media/index';
