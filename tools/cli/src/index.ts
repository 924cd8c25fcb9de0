// @switchboard/cli: the `switchboard` operator CLI (entry: src/main.ts).
export { run, USAGE, DEFAULT_HTTP, type Io } from './commands';
export { CliError, EXIT } from './errors';
export { buildTimeline, eventDetail, latencyLines, sessionDetail, sessionsTable, timelineLines, transitionLine, clock, duration, STATE_MARKERS } from './format';
