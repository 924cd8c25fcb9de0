// The CLI's commands: fetch from the orchestrator's APIs, render with format.ts (or print JSON).
import { parseArgs } from 'node:util';
import type { SessionUpdate } from '@switchboard/contracts/grpc';
import { GrpcApi, HttpApi, resolveGrpcAddress } from './client';
import { CliError, EXIT, usageError } from './errors';
import {
  buildTimeline,
  latencyLines,
  sessionDetail,
  sessionsTable,
  timelineLines,
  transitionLine,
  marked,
  clock,
  type LatencyDoc,
  type LoggedEvent,
  type SessionDetail,
  type SessionRow,
  type Transition,
} from './format';

export const DEFAULT_HTTP = 'http://127.0.0.1:8081';

export const USAGE = `usage: switchboard <command> [options]

commands:
  sessions               all sessions: state, turn, partition, owner, last update (gRPC ListSessions)
  session <id>           one session: state and its contract, turn, counters, timers, owner
  tail <id>              live transitions as they happen (gRPC WatchSession); ends when the call ends
  timeline <id>          the event log joined with the stored transitions, with per-transition latency
  latency <id>           time per transition and per pipeline stage, totals
  end <id> [reason]      end the call (default reason: operator)

options:
  --http <url>           orchestrator HTTP API (env SWITCHBOARD_HTTP, default ${DEFAULT_HTTP})
  --grpc <host:port>     orchestrator gRPC API (env SWITCHBOARD_GRPC, default: asked from GET <http>/grpc)
  --json                 machine-readable output (tail: one JSON object per line)
  -h, --help

exit codes: 0 ok, 1 usage or other error, 2 unknown session, 3 orchestrator unreachable`;

export interface Io {
  out(line: string): void;
  err(line: string): void;
  env: Record<string, string | undefined>;
  /** aborts `tail` (Ctrl-C) */
  signal: AbortSignal;
}

interface Ctx {
  io: Io;
  http: HttpApi;
  json: boolean;
  explicitGrpc: string | undefined;
}

const print = (ctx: Ctx, value: unknown, lines: () => string[]) => {
  if (ctx.json) ctx.io.out(JSON.stringify(value, null, 2));
  else for (const l of lines()) ctx.io.out(l);
};

async function withGrpc<T>(ctx: Ctx, fn: (api: GrpcApi) => Promise<T>): Promise<T> {
  const api = new GrpcApi(await resolveGrpcAddress(ctx.explicitGrpc, ctx.http));
  try {
    return await fn(api);
  } finally {
    api.close();
  }
}

function needId(args: readonly string[], cmd: string): string {
  const id = args[0];
  if (!id) throw usageError(`missing session id (usage: switchboard ${cmd} <id>)`);
  return id;
}

async function sessions(ctx: Ctx): Promise<void> {
  const list = await withGrpc(ctx, (api) => api.listSessions());
  // The gRPC summary has no owner; the HTTP list has (best effort: the table still prints without it).
  const owners = new Map<string, string>();
  try {
    const h = await ctx.http.get<{ sessions: Array<{ sessionId: string; owner: string }> }>('/sessions');
    for (const s of h.sessions) owners.set(s.sessionId, s.owner);
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
  }
  const rows: SessionRow[] = list.sessions.map((s) => ({
    sessionId: s.sessionId,
    state: s.state,
    turnId: s.turnId,
    partition: s.partition,
    owner: owners.get(s.sessionId) ?? '',
    updatedAt: s.updatedAt,
  }));
  print(ctx, { sessions: rows }, () => sessionsTable(rows));
}

async function session(ctx: Ctx, args: string[]): Promise<void> {
  const id = needId(args, 'session');
  const s = await ctx.http.get<SessionDetail>(`/sessions/${encodeURIComponent(id)}`, id);
  print(ctx, s, () => sessionDetail(s));
}

async function tail(ctx: Ctx, args: string[]): Promise<void> {
  const id = needId(args, 'tail');
  await withGrpc(ctx, async (api) => {
    // Asked first: the server's watch stream of an unknown session never ends (it is
    // destroyed without a status reaching the client), so the stream alone would hang.
    await api.getSession(id);
    let first = true;
    const ended = new AbortController();
    const signal = AbortSignal.any([ctx.io.signal, ended.signal]);
    const onUpdate = (u: SessionUpdate) => {
      if (ctx.json) ctx.io.out(JSON.stringify(u));
      else if (first) ctx.io.out(`watching ${id}: ${marked(u.state)} at ${clock(Date.now())} (Ctrl-C to stop)`);
      else if (u.transition) ctx.io.out(transitionLine(u.transition as Transition));
      // An ENDED session gets no more updates: the server would never end the stream.
      if (first && u.state === 'ENDED') ended.abort();
      first = false;
    };
    const how = await api.watch(id, onUpdate, signal);
    if (!ctx.json && how === 'ended') ctx.io.out(`${id} ended`);
  });
}

async function timeline(ctx: Ctx, args: string[]): Promise<void> {
  const id = needId(args, 'timeline');
  const [log, view] = await Promise.all([
    ctx.http.get<{ events: LoggedEvent[] }>(`/sessions/${encodeURIComponent(id)}/events`, id),
    ctx.http.get<SessionDetail>(`/sessions/${encodeURIComponent(id)}`, id),
  ]);
  const entries = buildTimeline(log.events, view.timeline);
  print(ctx, { sessionId: id, state: view.state, entries }, () => timelineLines(id, entries));
}

async function latency(ctx: Ctx, args: string[]): Promise<void> {
  const id = needId(args, 'latency');
  const doc = await ctx.http.get<LatencyDoc>(`/latency/${encodeURIComponent(id)}`, id);
  print(ctx, doc, () => latencyLines(doc));
}

async function end(ctx: Ctx, args: string[]): Promise<void> {
  const id = needId(args, 'end');
  const reason = args.slice(1).join(' ') || 'operator';
  await withGrpc(ctx, async (api) => {
    // EndSession answers `accepted: false` both for unknown and already-ended sessions: ask first.
    const before = await api.getSession(id);
    if (before.state === 'ENDED') {
      print(ctx, { sessionId: id, accepted: false, alreadyEnded: true }, () => [`${id} had already ended`]);
      return;
    }
    const res = await api.endSession(id, reason);
    print(ctx, { sessionId: id, accepted: res.accepted, reason }, () => [res.accepted ? `ending ${id} (reason: ${reason})` : `${id}: end not accepted (it ended meanwhile)`]);
  });
}

const COMMANDS: Record<string, (ctx: Ctx, args: string[]) => Promise<void>> = { sessions, session, tail, timeline, latency, end };

/** Runs one CLI invocation; returns the exit code (never throws for expected failures). */
export async function run(argv: string[], io: Io): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { http: { type: 'string' }, grpc: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
    });
  } catch (err) {
    io.err(`switchboard: ${(err as Error).message}\n${USAGE}`);
    return EXIT.failure;
  }
  const [cmd, ...rest] = parsed.positionals;
  if (parsed.values.help || !cmd) {
    (cmd || parsed.values.help ? io.out : io.err)(USAGE);
    return parsed.values.help ? EXIT.ok : EXIT.failure;
  }
  const command = COMMANDS[cmd];
  if (!command) {
    io.err(`switchboard: unknown command "${cmd}"\n${USAGE}`);
    return EXIT.failure;
  }
  const base = parsed.values.http ?? io.env['SWITCHBOARD_HTTP'] ?? DEFAULT_HTTP;
  try {
    new URL(base);
  } catch {
    io.err(`switchboard: --http must be a URL like ${DEFAULT_HTTP}, got "${base}"`);
    return EXIT.failure;
  }
  const ctx: Ctx = { io, http: new HttpApi(base), json: parsed.values.json, explicitGrpc: parsed.values.grpc ?? io.env['SWITCHBOARD_GRPC'] };
  try {
    await command(ctx, rest);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CliError) {
      if (ctx.json) io.out(JSON.stringify({ error: err.code, message: err.message }));
      io.err(`switchboard ${cmd}: ${err.message}`);
      return err.exitCode;
    }
    io.err(`switchboard ${cmd}: unexpected error: ${(err as Error).stack ?? String(err)}`);
    return EXIT.failure;
  }
}
