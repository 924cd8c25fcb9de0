// Pure rendering of the orchestrator's read models as terminal text. No I/O here: commands.ts
// fetches, these functions turn data into lines (and are what the tests read).

/** One glyph per state, as the orchestrator's logs use them (fsm/states.ts STATE_MARKERS). */
export const STATE_MARKERS: Readonly<Record<string, string>> = {
  IDLE: '⚪',
  LISTENING: '🟢',
  THINKING: '🤔',
  SPEAKING: '🔊',
  INTERRUPT: '✋',
  ENDED: '🔴',
};

export const marked = (state: string): string => `${STATE_MARKERS[state] ?? '·'} ${state}`;

const pad2 = (n: number) => String(n).padStart(2, '0');

/** Local wall-clock time with milliseconds: 12:01:02.345. */
export function clock(unixMs: number): string {
  if (!Number.isFinite(unixMs) || unixMs <= 0) return '--:--:--.---';
  const d = new Date(unixMs);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** 812 ms · 3.2 s · 2m05s */
export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a';
  if (Math.abs(ms) < 1000) return `${Math.round(ms)} ms`;
  if (Math.abs(ms) < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${pad2(s % 60)}s`;
}

/** Fixed-width columns; the last column is not padded. Width counts code points (emoji = 2 cells). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const width = (s: string) => [...s].reduce((w, ch) => w + ((ch.codePointAt(0) ?? 0) > 0x2000 && /\p{Extended_Pictographic}/u.test(ch) ? 2 : 1), 0);
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - width(c)))))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

// ---- read models (the fields the CLI relies on; the APIs send more) ----

export interface SessionRow {
  sessionId: string;
  state: string;
  turnId: string;
  partition: number;
  owner: string;
  updatedAt: number;
}

export interface Transition {
  from: string;
  to: string;
  eventType: string;
  at: number;
  latencyMs: number;
  turnId: string;
  eventSeq: number;
  rejected?: boolean;
}

export interface SessionDetail {
  sessionId: string;
  state: string;
  contract: { mic: string; playback: string; entry: string[]; then?: string };
  mic: string;
  playback: string;
  turn: { turnId: string; startedAt: number; marks: Record<string, number | undefined>; intent?: string; sourceIds?: string[] } | null;
  timers: Record<string, { id: string; deadline: number } | undefined>;
  counters: Record<string, number>;
  lastSeq: number;
  owner: string;
  fence: number;
  partition: number;
  updatedAt: number;
  end: { reason: string; by: string; at: number } | null;
  timeline: Transition[];
}

export interface StageRow {
  stage: string;
  count: number;
  totalMs: number;
  p50Ms: number;
  maxMs: number;
}

export interface LatencyDoc {
  sessionId: string;
  state?: string;
  transitions: StageRow[];
  stages: StageRow[];
  totalMs: number;
}

export interface LoggedEvent {
  seq: number;
  time: string;
  event: Record<string, unknown> & { eventType: string; source?: string; timestamp?: number; correlationId?: string };
}

// ---- renderers ----

export function sessionsTable(rows: readonly SessionRow[], now = Date.now()): string[] {
  if (rows.length === 0) return ['no sessions'];
  const sorted = [...rows].sort((a, b) => b.updatedAt - a.updatedAt);
  return table(
    ['SESSION', 'STATE', 'TURN', 'PARTITION', 'OWNER', 'UPDATED'],
    sorted.map((r) => [r.sessionId, marked(r.state), r.turnId || '-', String(r.partition), r.owner || '-', `${clock(r.updatedAt)} (${duration(now - r.updatedAt)} ago)`]),
  );
}

/** `12:01:02.345  🟢 LISTENING → 🤔 THINKING  (STT_FINAL, 812 ms in LISTENING) turn_123` */
export function transitionLine(t: Transition): string {
  const what = t.rejected ? `✗ ${t.eventType} rejected in ${marked(t.from)}` : `${marked(t.from)} → ${marked(t.to)}`;
  return `${clock(t.at)}  ${what}  (${t.eventType}, ${duration(t.latencyMs)} in ${t.from})${t.turnId ? ` ${t.turnId}` : ''}`;
}

export function sessionDetail(s: SessionDetail, now = Date.now()): string[] {
  const since = s.timeline.length > 0 ? s.timeline[s.timeline.length - 1]!.at : undefined;
  const out = [
    `session   ${s.sessionId}`,
    `state     ${marked(s.state)}${since ? `  since ${clock(since)} (${duration(now - since)})` : ''}`,
    `contract  mic ${s.contract.mic} · playback ${s.contract.playback} · on entry: ${s.contract.entry.join(', ') || '-'}${s.contract.then ? ` · then ${s.contract.then}` : ''}`,
    `actual    mic ${s.mic} · playback ${s.playback}`,
  ];
  if (s.turn) {
    // Marks are producer timestamps (the speech end precedes the turn): offsets from the first.
    const sorted = Object.entries(s.turn.marks)
      .filter((e): e is [string, number] => typeof e[1] === 'number')
      .sort((a, b) => a[1] - b[1]);
    const t0 = sorted[0]?.[1] ?? 0;
    const marks = sorted.map(([k, v], i) => (i === 0 ? `${k} ${clock(v)}` : `${k} +${duration(v - t0)}`));
    out.push(`turn      ${s.turn.turnId}  started ${clock(s.turn.startedAt)}${s.turn.intent ? `  intent ${s.turn.intent}` : ''}${marks.length ? `  marks: ${marks.join(', ')}` : ''}`);
  } else out.push('turn      -');
  const c = s.counters;
  out.push(`counters  turns ${c['turns'] ?? 0} · cancelled ${c['cancelled'] ?? 0} · barge-ins ${c['bargeIns'] ?? 0} · rejected ${c['rejected'] ?? 0} · stale ${c['stale'] ?? 0} · observed ${c['observed'] ?? 0}`);
  const timers = Object.entries(s.timers).filter((e): e is [string, { id: string; deadline: number }] => e[1] !== undefined);
  out.push(`timers    ${timers.length ? timers.map(([k, t]) => `${k} at ${clock(t.deadline)} (in ${duration(t.deadline - now)})`).join(' · ') : '-'}`);
  out.push(`owner     ${s.owner}  partition ${s.partition} · fence ${s.fence} · last event seq ${s.lastSeq} · updated ${clock(s.updatedAt)}`);
  if (s.end) out.push(`ended     ${s.end.reason} (by ${s.end.by}) at ${clock(s.end.at)}`);
  out.push(`timeline  ${s.timeline.length} transition(s) — \`switchboard timeline ${s.sessionId}\``);
  return out;
}

const ENVELOPE = new Set(['eventId', 'eventType', 'sessionId', 'source', 'timestamp', 'correlationId']);

/** The event's payload in a few words: its text, reason, turn or timer. */
export function eventDetail(ev: LoggedEvent['event']): string {
  for (const [k, v] of Object.entries(ev)) {
    if (ENVELOPE.has(k) || v === null || typeof v !== 'object') continue;
    const p = v as Record<string, unknown>;
    const bits: string[] = [];
    if (typeof p['text'] === 'string' && p['text']) bits.push(JSON.stringify(p['text'].length > 48 ? `${p['text'].slice(0, 47)}…` : p['text']));
    if (typeof p['reason'] === 'string' && p['reason']) bits.push(`reason=${p['reason']}`);
    if (typeof p['intent'] === 'string' && p['intent']) bits.push(`intent=${p['intent']}`);
    if (typeof p['kind'] === 'string' && p['kind']) bits.push(`kind=${p['kind']}`);
    if (typeof p['code'] === 'string' && p['code']) bits.push(`code=${p['code']}`);
    if (typeof p['durationMs'] === 'number' && p['durationMs'] > 0) bits.push(`${p['durationMs']} ms`);
    return bits.join(' ');
  }
  return '';
}

export interface TimelineEntry {
  seq: number;
  time: number;
  eventType: string;
  source: string;
  detail: string;
  /** false when the event left the log (stream limits) but the stored state still has its transition */
  inLog: boolean;
  transitions: Transition[];
}

/**
 * The event log (stream order) joined with the stored transitions by event sequence: each
 * event with the transition(s) it caused — two for a transient state (SPEAKING → INTERRUPT → LISTENING).
 */
export function buildTimeline(events: readonly LoggedEvent[], transitions: readonly Transition[]): TimelineEntry[] {
  const bySeq = new Map<number, Transition[]>();
  for (const t of transitions) bySeq.set(t.eventSeq, [...(bySeq.get(t.eventSeq) ?? []), t]);
  const entries: TimelineEntry[] = events.map((e) => ({
    seq: e.seq,
    time: Date.parse(e.time),
    eventType: e.event.eventType,
    source: e.event.source ?? '',
    detail: eventDetail(e.event),
    inLog: true,
    transitions: bySeq.get(e.seq) ?? [],
  }));
  const logged = new Set(events.map((e) => e.seq));
  for (const [seq, ts] of bySeq) {
    if (logged.has(seq)) continue;
    entries.push({ seq, time: ts[0]!.at, eventType: ts[0]!.eventType, source: '', detail: '(event no longer in the log)', inLog: false, transitions: ts });
  }
  return entries.sort((a, b) => a.seq - b.seq);
}

export function timelineLines(sessionId: string, entries: readonly TimelineEntry[]): string[] {
  const rows = entries.map((e) => {
    const tr = e.transitions.map((t) => (t.rejected ? `✗ rejected in ${marked(t.from)}` : `${marked(t.from)} → ${marked(t.to)}  ${duration(t.latencyMs)} in ${t.from}`)).join('; ');
    const turn = e.transitions.find((t) => t.turnId)?.turnId ?? '';
    return [String(e.seq), clock(e.time), e.eventType, e.source || '-', e.detail || '-', tr || '·', turn];
  });
  const nTransitions = entries.reduce((n, e) => n + e.transitions.length, 0);
  return [
    `timeline of ${sessionId}: ${entries.filter((e) => e.inLog).length} event(s) from the event log, ${nTransitions} stored transition(s)`,
    ...table(['SEQ', 'TIME', 'EVENT', 'SOURCE', 'DETAIL', 'TRANSITION', 'TURN'], rows),
  ];
}

export function latencyLines(doc: LatencyDoc): string[] {
  const rows = (list: readonly StageRow[]) => list.map((r) => [r.stage, String(r.count), duration(r.p50Ms), duration(r.maxMs), duration(r.totalMs)]);
  const out = [`latency of ${doc.sessionId}${doc.state ? ` (${marked(doc.state)})` : ''}`, '', 'per transition (time spent in the source state):'];
  out.push(...(doc.transitions.length ? table(['TRANSITION', 'COUNT', 'P50', 'MAX', 'TOTAL'], rows(doc.transitions)) : ['  none']));
  out.push('', 'per stage (from the turns\u2019 marks):');
  const stages = doc.stages.filter((s) => s.count > 0);
  out.push(...(stages.length ? table(['STAGE', 'COUNT', 'P50', 'MAX', 'TOTAL'], rows(stages)) : ['  no completed stage yet']));
  out.push('', `total time covered by transitions: ${duration(doc.totalMs)}`);
  return out;
}
