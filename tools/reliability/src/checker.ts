// The checker (in the spirit of Jepsen's): a pure function over a recorded history and the
// scripts the caller followed. Per session it checks that
//   - every event the caller published (and the stream acknowledged) is in the log and was
//     applied by the orchestrator (its lastSeq reached it)                        → lost events
//   - every turn the script implies got its RAG_QUERY, in script order, and every answered
//     turn its TTS_SPEAK; interrupted turns their cancel                           → lost commands
//   - no command id twice, no two RAG_QUERY for one turn, no two TTS_SPEAK for one
//     utterance                                                                    → duplicates
//   - no TTS_SPEAK for a turn after its RAG_CANCEL/TTS_CANCEL                      → replies for cancelled turns
//   - after its script, the session is LISTENING/IDLE (ENDED if it hung up)        → stuck
// A barged-in turn needs no TTS_CANCEL only when the log proves the barge-in came too late: the
// turn's playback timeout (TIMER_FIRED, applied: it produced commands) is in the stream after its
// TTS_SPEAK with no SPEECH_STARTED of the session between them. The orchestrator applies a
// session's events in stream order, so the call was back in LISTENING before the caller spoke.
// (Seen on a 3-node cluster with a node killed: the orchestrator applied events ~18 s late and the
// caller's barge-in landed after the 30 s playback timeout.) Counted as `bargeInsAfterTimeout`.
// Commands of one session are ordered by the event sequence in their id
// (`<sessionId>:<eventSeq>:<index>`): that is the order the orchestrator decided them in, across
// the four command streams.
import { CommandType, EventType, TimerKind, type Command } from '@switchboard/contracts';
import { commandOrder, type History, type RecordedCommand } from './history';
import { expectedQueries, type SessionScript } from './script';

export type ViolationKind =
  | 'lost_event'
  | 'unapplied_event'
  | 'lost_command'
  | 'duplicate_command'
  | 'duplicate_turn_command'
  | 'reply_for_cancelled_turn'
  | 'turn_order'
  | 'turn_count'
  | 'stuck';

export interface Violation {
  sessionId: string;
  kind: ViolationKind;
  detail: string;
}

export interface CheckResult {
  sessions: number;
  eventsChecked: number;
  commandsChecked: number;
  /** lost events + lost commands */
  lost: number;
  lostEvents: number;
  lostCommands: number;
  duplicated: number;
  repliesForCancelledTurns: number;
  stuck: number;
  /** barge-ins the log shows arrived after the turn's playback timeout (no cancel due) */
  bargeInsAfterTimeout: number;
  /** superseded turns whose answer won the race and was cut by a barge-in (TTS_CANCEL) */
  supersededWhileSpeaking: number;
  violations: Violation[];
}

const SETTLED = new Set(['LISTENING', 'IDLE', 'ENDED']);

function ordered(cmds: RecordedCommand[]): RecordedCommand[] {
  const key = (r: RecordedCommand): [number, number, number] => {
    const o = commandOrder(r.command.commandId);
    return o ? [o[0], o[1], r.time] : [Number.MAX_SAFE_INTEGER, 0, r.time];
  };
  return [...cmds].sort((a, b) => {
    const x = key(a);
    const y = key(b);
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
  });
}

const turnNo = (turnId: string): number => {
  const m = /^turn_(\d+)$/.exec(turnId);
  return m ? Number(m[1]) : NaN;
};

export function checkHistory(history: History, scripts: readonly SessionScript[]): CheckResult {
  const violations: Violation[] = [];
  const add = (sessionId: string, kind: ViolationKind, detail: string) => violations.push({ sessionId, kind, detail });
  const bySession = new Map<string, RecordedCommand[]>();
  for (const c of history.commands) {
    const list = bySession.get(c.command.sessionId);
    if (list) list.push(c);
    else bySession.set(c.command.sessionId, [c]);
  }
  const eventIdsBySession = new Map<string, Set<string>>();
  let eventsChecked = 0;
  const scripted = new Set(scripts.map((s) => s.sessionId));
  for (const e of history.events) {
    const sid = e.subjectSessionId;
    if (!sid || !scripted.has(sid)) continue;
    eventsChecked++;
    if (!e.event) continue;
    let ids = eventIdsBySession.get(sid);
    if (!ids) eventIdsBySession.set(sid, (ids = new Set()));
    ids.add(e.event.eventId);
  }
  const publishedBySession = new Map<string, History['published']>();
  for (const p of history.published) {
    const list = publishedBySession.get(p.sessionId);
    if (list) list.push(p);
    else publishedBySession.set(p.sessionId, [p]);
  }

  let lostEvents = 0;
  let lostCommands = 0;
  let duplicated = 0;
  let replies = 0;
  let stuck = 0;
  let commandsChecked = 0;
  let bargeInsAfterTimeout = 0;
  let supersededWhileSpeaking = 0;
  const eventsBySession = new Map<string, History['events']>();
  for (const e of history.events) {
    if (!e.subjectSessionId || !e.event) continue;
    const list = eventsBySession.get(e.subjectSessionId);
    if (list) list.push(e);
    else eventsBySession.set(e.subjectSessionId, [e]);
  }

  for (const script of scripts) {
    const sid = script.sessionId;
    const cmds = ordered(bySession.get(sid) ?? []);
    commandsChecked += cmds.length;

    // ---- events: published → logged → applied
    const seen = eventIdsBySession.get(sid) ?? new Set<string>();
    const published = publishedBySession.get(sid) ?? [];
    let lastPublishedSeq = 0;
    for (const p of published) {
      lastPublishedSeq = Math.max(lastPublishedSeq, p.seq);
      if (!seen.has(p.eventId)) {
        lostEvents++;
        add(sid, 'lost_event', `${p.eventType} ${p.eventId} acknowledged (seq ${p.seq}) but not in VOICE_EVENTS as a valid event`);
      }
    }
    const final = history.finals[sid];
    if (final && final.lastSeq < lastPublishedSeq) {
      const unapplied = published.filter((p) => p.seq > final.lastSeq);
      lostEvents += unapplied.length;
      add(sid, 'unapplied_event', `orchestrator lastSeq ${final.lastSeq} < ${lastPublishedSeq}: ${unapplied.map((p) => p.eventType).join(',')} never applied`);
    }

    // ---- duplicates
    const perStream = new Map<string, number>();
    for (const c of cmds) {
      const k = `${c.target}|${c.command.commandId}`;
      perStream.set(k, (perStream.get(k) ?? 0) + 1);
    }
    for (const [k, n] of perStream) {
      if (n > 1) {
        duplicated += n - 1;
        add(sid, 'duplicate_command', `${k} delivered ${n} times`);
      }
    }
    const countBy = (pred: (c: Command) => string | undefined, what: string) => {
      const m = new Map<string, number>();
      const ids = new Set<string>();
      for (const { command: c } of cmds) {
        const k = pred(c);
        if (k === undefined) continue;
        if (ids.has(c.commandId)) continue; // same id twice is counted above
        ids.add(c.commandId);
        m.set(k, (m.get(k) ?? 0) + 1);
      }
      for (const [k, n] of m) {
        if (n > 1) {
          duplicated += n - 1;
          add(sid, 'duplicate_turn_command', `${n} × ${what} for ${k}`);
        }
      }
    };
    countBy((c) => (c.commandType === CommandType.RAG_QUERY ? c.ragQuery?.turnId : undefined), 'RAG_QUERY');
    countBy((c) => (c.commandType === CommandType.TTS_SPEAK ? `${c.ttsSpeak?.turnId}/${c.ttsSpeak?.speakId}` : undefined), 'TTS_SPEAK');

    // ---- turns in script order
    const uniq = (list: RecordedCommand[]) => {
      const ids = new Set<string>();
      return list.filter((c) => (ids.has(c.command.commandId) ? false : (ids.add(c.command.commandId), true)));
    };
    const queries = uniq(cmds.filter((c) => c.command.ragQuery));
    const seenTurns = new Set<string>();
    const firstQueries = queries.filter((q) => (seenTurns.has(q.command.ragQuery!.turnId) ? false : (seenTurns.add(q.command.ragQuery!.turnId), true)));
    const texts = firstQueries.map((q) => q.command.ragQuery!.text);
    const expected = expectedQueries(script);
    // Audio scripts: the words are the recogniser's; what counts is one query per utterance, in order.
    const prefixOk = texts.every((t, i) => (script.audio ? t !== '' : t === expected[i]));
    if (!prefixOk || texts.length > expected.length) add(sid, 'turn_order', `queries ${JSON.stringify(texts)} ≠ script ${JSON.stringify(expected)}`);
    else if (texts.length < expected.length) {
      lostCommands += expected.length - texts.length;
      add(sid, 'lost_command', `${expected.length - texts.length} RAG_QUERY missing (after ${JSON.stringify(texts.at(-1) ?? '')})`);
    }
    const nums = firstQueries.map((q) => turnNo(q.command.ragQuery!.turnId));
    if (nums.some((n, i) => i > 0 && !(n > nums[i - 1]!))) add(sid, 'turn_order', `turn ids not increasing: ${firstQueries.map((q) => q.command.ragQuery!.turnId).join(',')}`);

    // ---- cancellations and replies
    const cancelled = new Set<string>();
    const ragCancelled = new Set<string>();
    const ttsCancelled = new Set<string>();
    const answered = new Set<string>();
    for (const { command: c } of cmds) {
      if (c.ragCancel) {
        cancelled.add(c.ragCancel.turnId);
        ragCancelled.add(c.ragCancel.turnId);
      } else if (c.ttsCancel) {
        cancelled.add(c.ttsCancel.turnId);
        ttsCancelled.add(c.ttsCancel.turnId);
      } else if (c.ttsSpeak) {
        if (cancelled.has(c.ttsSpeak.turnId)) {
          replies++;
          add(sid, 'reply_for_cancelled_turn', `TTS_SPEAK ${c.commandId} (${c.ttsSpeak.speakId}) after the turn ${c.ttsSpeak.turnId} was cancelled`);
        }
        if (c.ttsSpeak.speakId.endsWith(':answer')) answered.add(c.ttsSpeak.turnId);
      }
    }
    // What each step implies, for the turns that were queried.
    let qi = 0;
    for (const step of script.steps) {
      const first = firstQueries[qi];
      if (!first) break;
      const turn = first.command.ragQuery!.turnId;
      if (step.interrupt === 'supersede') {
        const second = firstQueries[qi + 1];
        if (!ragCancelled.has(turn)) {
          // The answer may win the race with the superseding final (the caller sends it when it
          // sees the query; a real rag-worker answers in ms): then the final lands while the
          // answer is spoken and cancels it as a barge-in — TTS_CANCEL instead of RAG_CANCEL,
          // accepted only when the log shows the turn's TTS_SPEAK decided before that final.
          const speakSeq = answerSpeakSeq(turn);
          const finalSeq = second ? commandOrder(second.command.commandId)?.[0] : undefined;
          const spokenFirst = speakSeq !== undefined && finalSeq !== undefined && speakSeq < finalSeq;
          if (spokenFirst && ttsCancelled.has(turn)) supersededWhileSpeaking++;
          else {
            lostCommands++;
            add(sid, 'lost_command', `superseded turn ${turn} has no ${spokenFirst ? 'TTS_CANCEL (its answer was being spoken)' : 'RAG_CANCEL'}`);
          }
        }
        qi++;
        if (!second) break;
        checkAnswered(second.command.ragQuery!.turnId, step.interrupt);
      } else checkAnswered(turn, step.interrupt);
      qi++;
    }
    function checkAnswered(turn: string, interrupt: string): void {
      if (!answered.has(turn)) {
        lostCommands++;
        add(sid, 'lost_command', `turn ${turn} has no answer TTS_SPEAK`);
      } else if (interrupt === 'barge_in' && !ttsCancelled.has(turn)) {
        if (playbackTimedOutBeforeSpeech(turn)) bargeInsAfterTimeout++;
        else {
          lostCommands++;
          add(sid, 'lost_command', `barged-in turn ${turn} has no TTS_CANCEL`);
        }
      }
    }
    function answerSpeakSeq(turn: string): number | undefined {
      const speak = cmds.find((c) => c.command.ttsSpeak?.turnId === turn && c.command.ttsSpeak.speakId.endsWith(':answer'));
      return speak ? commandOrder(speak.command.commandId)?.[0] : undefined;
    }
    function playbackTimedOutBeforeSpeech(turn: string): boolean {
      const speakSeq = answerSpeakSeq(turn);
      if (speakSeq === undefined) return false;
      const applied = new Set(cmds.map((c) => commandOrder(c.command.commandId)?.[0]));
      const evs = (eventsBySession.get(sid) ?? []).filter((e) => e.seq > speakSeq).sort((a, b) => a.seq - b.seq);
      for (const e of evs) {
        const ev = e.event!;
        if (ev.eventType === EventType.SPEECH_STARTED) return false;
        if (ev.eventType === EventType.TIMER_FIRED && ev.timerFired?.kind === TimerKind.TIMER_KIND_PLAYBACK_TIMEOUT && ev.correlationId === turn && applied.has(e.seq)) return true;
      }
      return false;
    }

    // ---- final state
    if (final === undefined || final === null) {
      stuck++;
      add(sid, 'stuck', 'orchestrator does not know the session');
    } else {
      const want = script.hangUp ? ['ENDED'] : ['LISTENING', 'IDLE'];
      if (!SETTLED.has(final.state) || !want.includes(final.state)) {
        stuck++;
        add(sid, 'stuck', `final state ${final.state}, expected ${want.join('/')}`);
      }
      if (final.turns !== expected.length) add(sid, 'turn_count', `orchestrator counted ${final.turns} turns, script has ${expected.length}`);
    }
  }

  return {
    sessions: scripts.length,
    eventsChecked,
    commandsChecked,
    lost: lostEvents + lostCommands,
    lostEvents,
    lostCommands,
    duplicated,
    repliesForCancelledTurns: replies,
    stuck,
    bargeInsAfterTimeout,
    supersededWhileSpeaking,
    violations,
  };
}

/** One line per violation kind with a count and the first example: for assertion messages. */
export function summarizeViolations(vs: ReadonlyArray<{ sessionId: string; kind: string; detail: string }>, examples = 3): string {
  const by = new Map<string, Array<(typeof vs)[number]>>();
  for (const v of vs) by.set(v.kind, [...(by.get(v.kind) ?? []), v]);
  return [...by].map(([k, list]) => `${k} ×${list.length}: ${list.slice(0, examples).map((v) => `${v.sessionId}: ${v.detail}`).join(' | ')}`).join('\n');
}
