// The orchestrator's two APIs as the CLI sees them: HTTP (JSON read models) and gRPC (list,
// watch, end). Every call has a time budget and turns transport failures into CliErrors
// that name the address, so "orchestrator down" reads as such.
import * as grpc from '@grpc/grpc-js';
import {
  SessionControlClient,
  type EndSessionResponse,
  type ListSessionsResponse,
  type SessionUpdate,
  type SessionView,
} from '@switchboard/contracts/grpc';
import { apiError, unknownSession, unreachable } from './errors';

/** A unary call's budget; the watch stream has none (it lasts as long as the session). */
export const CALL_BUDGET_MS = 5_000;

export class HttpApi {
  constructor(readonly base: string) {}

  /** GET a JSON document; 404 → unknown session (every per-session route 404s only for that). */
  async get<T>(path: string, sessionId?: string): Promise<T> {
    const url = new URL(path, this.base).toString();
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(CALL_BUDGET_MS) });
    } catch (err) {
      throw unreachable('HTTP API', this.base, causeOf(err));
    }
    if (res.status === 404 && sessionId !== undefined) throw unknownSession(sessionId, this.base);
    if (!res.ok) throw apiError(this.base, `GET ${path} → HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
    return (await res.json()) as T;
  }
}

/** The gRPC address: --grpc / SWITCHBOARD_GRPC if given, else asked from the HTTP API (GET /grpc). */
export async function resolveGrpcAddress(explicit: string | undefined, http: HttpApi): Promise<string> {
  if (explicit) return explicit;
  const { port } = await http.get<{ port: number | null }>('/grpc');
  if (!port) throw apiError(http.base, 'GET /grpc reports no gRPC port (gRPC server not started)');
  return `${new URL(http.base).hostname}:${port}`;
}

export class GrpcApi {
  readonly #client: SessionControlClient;

  constructor(readonly address: string) {
    this.#client = new SessionControlClient(address, grpc.credentials.createInsecure());
  }

  close(): void {
    this.#client.close();
  }

  #deadline(): Partial<grpc.CallOptions> {
    return { deadline: Date.now() + CALL_BUDGET_MS };
  }

  #fail(err: grpc.ServiceError, sessionId?: string): Error {
    if (err.code === grpc.status.NOT_FOUND && sessionId !== undefined) return unknownSession(sessionId, this.address);
    if (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED) {
      return unreachable('gRPC API', this.address, (err.details || err.message).replace(/\s*Resolution note:\s*$/, ''));
    }
    return apiError(this.address, `${grpc.status[err.code] ?? err.code}: ${err.details || err.message}`);
  }

  listSessions(): Promise<ListSessionsResponse> {
    return new Promise((resolve, reject) =>
      this.#client.listSessions({}, new grpc.Metadata(), this.#deadline(), (err, res) => (err ? reject(this.#fail(err)) : resolve(res))),
    );
  }

  getSession(sessionId: string): Promise<SessionView> {
    return new Promise((resolve, reject) =>
      this.#client.getSession({ sessionId }, new grpc.Metadata(), this.#deadline(), (err, res) => (err ? reject(this.#fail(err, sessionId)) : resolve(res))),
    );
  }

  endSession(sessionId: string, reason: string): Promise<EndSessionResponse> {
    return new Promise((resolve, reject) =>
      this.#client.endSession({ sessionId, reason }, new grpc.Metadata(), this.#deadline(), (err, res) => (err ? reject(this.#fail(err, sessionId)) : resolve(res))),
    );
  }

  /**
   * Streams the session's updates until the server ends the stream (the session ENDED) or
   * `signal` aborts. The first update is the current state (no transition).
   */
  async watch(sessionId: string, onUpdate: (u: SessionUpdate) => void, signal: AbortSignal): Promise<'ended' | 'aborted'> {
    const stream = this.#client.watchSession({ sessionId });
    const onAbort = () => stream.cancel();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await new Promise<'ended' | 'aborted'>((resolve, reject) => {
        stream.on('data', (u: SessionUpdate) => onUpdate(u));
        stream.on('end', () => resolve(signal.aborted ? 'aborted' : 'ended'));
        stream.on('error', (err: grpc.ServiceError) => {
          if (err.code === grpc.status.CANCELLED && signal.aborted) resolve('aborted');
          else reject(this.#fail(err, sessionId));
        });
      });
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}

function causeOf(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return `no answer within ${CALL_BUDGET_MS} ms`;
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}
