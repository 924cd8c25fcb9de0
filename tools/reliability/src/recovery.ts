// Recovery after a kill -9, measured two ways:
//   - live, for leased services (orchestrator, stt-adapter): takeover = kill → every partition
//     leased again and none by the victim (polling the leases bucket);
//   - after the run, from the recorded history only (events, commands, agent-audio frames, the
//     audio callers' clips) and the kill log: how long the work the victim held waited for its
//     replacement. Each kill's figure is the longest wait among the work it caught (see
//     RECOVERY_DEFINITION); a kill that caught no work has no figure (nothing waited).
import type { Bus } from '@switchboard/bus';
import { CommandType, EventType, partitionOf } from '@switchboard/contracts';
import { lagFigures } from './cluster-probe';
import { commandOrder, type History, type RecordedCommand } from './history';
import { leaseOwners } from './observe';
import type { RecordedFrame } from './playout';

/** The lease group of each partitioned service (the others share a durable consumer). */
export const LEASE_GROUPS: Readonly<Record<string, string>> = { 'session-orchestrator': 'orchestrator', 'stt-adapter': 'stt-adapter' };

export interface KillRecord {
  service: string;
  victim: string;
  /** local time of the kill -9, ms since epoch (the same clock as stream timestamps here) */
  killedAt: number;
  replacement?: string;
  /** leased services: the partitions the victim held just before the kill */
  partitions?: number[];
  /** leased services: kill → every partition leased again, none by the victim (undefined: not within the budget) */
  takeoverMs?: number;
}

/** A clip an audio caller said: its first frame went out at `startedAt`, the speech begins `onsetAt`. */
export interface SpokenClip {
  sessionId: string;
  startedAt: number;
  onsetAt: number;
}

export const RECOVERY_DEFINITION = [
  'recovery = for each kill, the longest wait of the work the killed replica held, each wait measured from the kill (or from when that work arrived, if later) until the replacement (or a survivor) handled it:',
  '  orchestrator: per session of the partitions the victim leased, the first command-causing event applied after the kill → its first command stored',
  '  stt-adapter:  per audio session of the partitions the victim leased, the speech in progress at the kill (or the next clip\'s onset) → the first stt-adapter event of the session stored after the kill',
  '  rag-worker:   each query in flight at the kill (stored, not answered, not cancelled) → the first rag-worker event of its turn after the kill',
  '  tts-streamer: each speak in flight at the kill (stored, no last frame / TTS_DONE, not cancelled) → its first frame or TTS_DONE after the kill',
  '  kills that caught no work are counted apart (nothing waited); work cancelled before it was handled is left out',
].join('\n');

export interface KillRecovery {
  kill: KillRecord;
  /** work items the kill caught */
  caught: number;
  /** the longest wait among them (undefined when it caught none) */
  recoveryMs?: number;
  /** what waited longest (for reading the history) */
  longest?: string;
  /** orchestrator kills: kill → the first command for a session of the victim's partitions (bench/reliability/run.ts's "progress") */
  progressMs?: number;
}

export interface RecoveryInput {
  history: History;
  frames: readonly RecordedFrame[];
  clips: readonly SpokenClip[];
  partitions: number;
}

/** The partitions `victim` holds (from owners read just before the kill). */
export function partitionsOf(owners: ReadonlyMap<number, string | undefined>, victim: string): number[] {
  return [...owners].filter(([, o]) => o === victim).map(([p]) => p);
}

/** Polls the leases until every partition has an owner and none is `victim`: ms since the kill, or undefined past the budget. */
export async function awaitTakeover(bus: Bus, group: string, partitions: number, victim: string, killedAt: number, budgetMs = 30_000): Promise<number | undefined> {
  const until = killedAt + budgetMs;
  while (Date.now() < until) {
    const owners = await leaseOwners(bus, group, partitions).catch(() => undefined);
    if (owners && [...owners.values()].every((o) => o !== undefined && o !== victim)) return Date.now() - killedAt;
    await new Promise((r) => setTimeout(r, 20));
  }
  return undefined;
}

/** The first command stored after `killedAt` for a session of `parts` (run.ts's progress; live or after the run). */
export function firstCommandAfter(commands: readonly RecordedCommand[], killedAt: number, parts: ReadonlySet<number>, partitions: number, from = 0): RecordedCommand | undefined {
  for (let i = from; i < commands.length; i++) {
    const c = commands[i]!;
    if (c.time > killedAt && parts.has(partitionOf(c.command.sessionId, partitions))) return c;
  }
  return undefined;
}

interface Wait {
  ms: number;
  what: string;
}

export function killRecoveries(kills: readonly KillRecord[], input: RecoveryInput): KillRecovery[] {
  const idx = new HistoryIndex(input);
  return kills.map((kill) => {
    const waits = idx.waits(kill);
    const longest = waits.reduce<Wait | undefined>((a, w) => (a === undefined || w.ms > a.ms ? w : a), undefined);
    const out: KillRecovery = { kill, caught: waits.length };
    if (longest) {
      out.recoveryMs = longest.ms;
      out.longest = longest.what;
    }
    if (kill.service === 'session-orchestrator' && kill.partitions) {
      const c = firstCommandAfter(input.history.commands, kill.killedAt, new Set(kill.partitions), input.partitions);
      if (c) out.progressMs = c.time - kill.killedAt;
    }
    return out;
  });
}

export interface RecoveryFigures {
  kills: number;
  /** kills that caught work (the figures are over these) */
  withWork: number;
  p50: number;
  p99: number;
  max: number;
}

/** Per killed service and overall ("all"). */
export function recoveryFigures(recs: readonly KillRecovery[]): Map<string, RecoveryFigures> {
  const out = new Map<string, RecoveryFigures>();
  const by = new Map<string, KillRecovery[]>([['all', [...recs]]]);
  for (const r of recs) by.set(r.kill.service, [...(by.get(r.kill.service) ?? []), r]);
  for (const [k, list] of by) {
    const xs = list.flatMap((r) => (r.recoveryMs === undefined ? [] : [r.recoveryMs]));
    const { p50, p99, max } = lagFigures(xs);
    out.set(k, { kills: list.length, withWork: xs.length, p50, p99, max });
  }
  return out;
}

/** The history sorted per session / turn / speak once, for the per-kill questions. */
class HistoryIndex {
  readonly #sessionsByPartition = new Map<number, Set<string>>();
  /** per session, its events by stream time */
  readonly #events = new Map<string, Array<{ time: number; seq: number; source: string; type: EventType; turnId: string }>>();
  readonly #eventTimeBySeq = new Map<number, number>();
  /** per session, command-causing events: event seq → first command's stored time */
  readonly #applied = new Map<string, Array<{ seq: number; commandTime: number }>>();
  readonly #queries: Array<{ sessionId: string; turnId: string; time: number }> = [];
  readonly #speaks: Array<{ sessionId: string; turnId: string; speakId: string; time: number }> = [];
  readonly #cancelledAt = new Map<string, number>();
  /** per speak: its frames' stored times (sorted) and its first last frame's */
  readonly #speakOutput = new Map<string, { frames: number[]; lastAt?: number }>();
  readonly #clips = new Map<string, number[]>();
  /** per speak: its first TTS_DONE's stored time */
  readonly #ttsDone = new Map<string, number>();

  constructor(input: RecoveryInput) {
    const { history, partitions } = input;
    const note = (sid: string) => {
      const p = partitionOf(sid, partitions);
      let s = this.#sessionsByPartition.get(p);
      if (!s) this.#sessionsByPartition.set(p, (s = new Set()));
      s.add(sid);
    };
    const seen = new Set<string>();
    for (const e of history.events) {
      if (!e.event || !e.subjectSessionId || seen.has(e.event.eventId)) continue;
      seen.add(e.event.eventId);
      note(e.subjectSessionId);
      this.#eventTimeBySeq.set(e.seq, e.time);
      let list = this.#events.get(e.subjectSessionId);
      if (!list) this.#events.set(e.subjectSessionId, (list = []));
      list.push({ time: e.time, seq: e.seq, source: e.event.source, type: e.event.eventType, turnId: e.event.correlationId });
      const done = e.event.ttsDone;
      if (done && e.time < (this.#ttsDone.get(done.speakId) ?? Infinity)) this.#ttsDone.set(done.speakId, e.time);
    }
    const firstCmd = new Map<string, { sid: string; seq: number; time: number }>();
    const cmdSeen = new Set<string>();
    for (const c of history.commands) {
      if (cmdSeen.has(c.command.commandId)) continue;
      cmdSeen.add(c.command.commandId);
      const sid = c.command.sessionId;
      const o = commandOrder(c.command.commandId);
      if (o) {
        const k = `${sid}:${o[0]}`;
        const prev = firstCmd.get(k);
        if (!prev || c.time < prev.time) firstCmd.set(k, { sid, seq: o[0], time: c.time });
      }
      const turn = c.command.ttsCancel?.turnId ?? c.command.playbackFlush?.turnId ?? c.command.ragCancel?.turnId;
      if (turn && (this.#cancelledAt.get(`${sid}/${turn}`) ?? Infinity) > c.time) this.#cancelledAt.set(`${sid}/${turn}`, c.time);
      if (c.command.commandType === CommandType.RAG_QUERY && c.command.ragQuery) this.#queries.push({ sessionId: sid, turnId: c.command.ragQuery.turnId, time: c.time });
      if (c.command.commandType === CommandType.TTS_SPEAK && c.command.ttsSpeak) this.#speaks.push({ sessionId: sid, turnId: c.command.ttsSpeak.turnId, speakId: c.command.ttsSpeak.speakId, time: c.time });
    }
    for (const { sid, seq, time } of firstCmd.values()) {
      let list = this.#applied.get(sid);
      if (!list) this.#applied.set(sid, (list = []));
      list.push({ seq, commandTime: time });
    }
    for (const list of this.#applied.values()) list.sort((a, b) => a.commandTime - b.commandTime);
    for (const list of this.#events.values()) list.sort((a, b) => a.time - b.time);
    for (const f of input.frames) {
      let o = this.#speakOutput.get(f.speakId);
      if (!o) this.#speakOutput.set(f.speakId, (o = { frames: [] }));
      o.frames.push(f.time);
      if (f.last) o.lastAt = Math.min(o.lastAt ?? Infinity, f.time);
    }
    for (const c of input.clips) {
      let list = this.#clips.get(c.sessionId);
      if (!list) this.#clips.set(c.sessionId, (list = []));
      list.push(c.onsetAt);
    }
    for (const list of this.#clips.values()) list.sort((a, b) => a - b);
    for (const o of this.#speakOutput.values()) o.frames.sort((a, b) => a - b);
  }

  waits(kill: KillRecord): Wait[] {
    const K = kill.killedAt;
    switch (kill.service) {
      case 'session-orchestrator':
        return this.#sessionsOf(kill).flatMap((sid) => {
          const a = this.#applied.get(sid)?.find((x) => x.commandTime > K);
          if (!a) return [];
          const at = this.#eventTimeBySeq.get(a.seq) ?? K;
          return [{ ms: a.commandTime - Math.max(K, at), what: `${sid} event seq ${a.seq}` }];
        });
      case 'stt-adapter':
        return this.#sessionsOf(kill).flatMap((sid) => {
          const onsets = this.#clips.get(sid);
          if (!onsets) return []; // not an audio session
          const e = this.#events.get(sid)?.find((x) => x.time > K && x.source === 'stt-adapter');
          if (!e) return [];
          const onset = onsets.filter((t) => t <= e.time).pop() ?? K;
          return [{ ms: e.time - Math.max(K, onset), what: `${sid} ${EventType[e.type]} seq ${e.seq}` }];
        });
      case 'rag-worker':
        return this.#queries.flatMap((q) => {
          if (q.time > K) return [];
          const rag = (this.#events.get(q.sessionId) ?? []).filter((e) => e.source === 'rag-worker' && e.turnId === q.turnId);
          if (rag.some((e) => e.time <= K && (e.type === EventType.RAG_ANSWER_READY || e.type === EventType.ERROR || e.type === EventType.ESCALATION_REQUESTED))) return [];
          const next = rag.find((e) => e.time > K);
          const cancelled = this.#cancelledAt.get(`${q.sessionId}/${q.turnId}`) ?? Infinity;
          if (cancelled <= (next?.time ?? Infinity)) return [];
          return next ? [{ ms: next.time - K, what: `${q.sessionId} query of ${q.turnId}` }] : [];
        });
      case 'tts-streamer':
        return this.#speaks.flatMap((s) => {
          if (s.time > K) return [];
          const o = this.#speakOutput.get(s.speakId);
          const doneAt = this.#ttsDone.get(s.speakId) ?? Infinity;
          if ((o?.lastAt ?? Infinity) <= K || doneAt <= K) return [];
          const next = Math.min(o?.frames.find((t) => t > K) ?? Infinity, doneAt);
          const cancelled = this.#cancelledAt.get(`${s.sessionId}/${s.turnId}`) ?? Infinity;
          if (!Number.isFinite(next) || cancelled <= next) return [];
          return [{ ms: next - K, what: `${s.sessionId} speak ${s.speakId}` }];
        });
      default:
        return [];
    }
  }

  #sessionsOf(kill: KillRecord): string[] {
    return (kill.partitions ?? []).flatMap((p) => [...(this.#sessionsByPartition.get(p) ?? [])]);
  }
}
