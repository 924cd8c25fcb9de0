// Runs a TypeScript entry point as a real child process (node --import tsx), the way services run
// in production, and lets a test wait for what it prints.
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { killQuietly, onExit } from './cleanup';

const KILL_BUDGET_MS = 10_000;
const DEFAULT_WAIT_MS = 10_000;
const MAX_LINES = 50_000;

export interface SpawnNodeOptions {
  env?: Record<string, string>;
  args?: string[];
  cwd?: string;
}

export interface ChildHandle {
  readonly pid: number;
  /** stdout and stderr lines, in arrival order (capped at the last 50 000). */
  readonly lines: string[];
  /** Resolves with the first line (already printed or future) matching `re`. */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends `signal` (default SIGTERM; SIGKILL after 10 s) and resolves with the exit code. */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  /** Exit code; null when ended by a signal. */
  readonly exited: Promise<number | null>;
}

/** The tsx loader as a file URL, so the child finds it whatever its cwd. */
function tsxLoader(): string {
  return import.meta.resolve('tsx');
}

export function spawnNode(entry: string, opts: SpawnNodeOptions = {}): ChildHandle {
  const child = spawn(process.execPath, ['--import', tsxLoader(), entry, ...(opts.args ?? [])], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid ?? -1;
  const unregister = onExit(() => killQuietly(child.pid));
  const lines: string[] = [];
  const waiters = new Set<(line: string) => void>();
  let done = false;

  const onLine = (line: string) => {
    lines.push(line);
    if (lines.length > MAX_LINES) lines.splice(0, lines.length - MAX_LINES);
    for (const w of [...waiters]) w(line);
  };
  if (child.stdout) readline.createInterface({ input: child.stdout }).on('line', onLine);
  if (child.stderr) readline.createInterface({ input: child.stderr }).on('line', onLine);

  const exited = new Promise<number | null>((resolve) => {
    // 'close' (not 'exit') so the last lines of output have been read.
    child.once('close', (code) => {
      done = true;
      unregister();
      resolve(code);
    });
    child.once('error', (err) => {
      onLine(`[testkit] spawn error: ${err.message}`);
      done = true;
      unregister();
      resolve(null);
    });
  });

  const tail = () => lines.slice(-40).join('\n');

  return {
    pid,
    lines,
    exited,
    waitForLine(re, timeoutMs = DEFAULT_WAIT_MS) {
      const already = lines.find((l) => re.test(l));
      if (already !== undefined) return Promise.resolve(already);
      return new Promise<string>((resolve, reject) => {
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(waiter);
        };
        const waiter = (line: string) => {
          if (!re.test(line)) return;
          finish();
          resolve(line);
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`no line matching ${re} within ${timeoutMs} ms from ${entry}\n--- last lines ---\n${tail()}`));
        }, timeoutMs);
        waiters.add(waiter);
        exited.then(
          (code) => {
            if (!waiters.has(waiter)) return;
            finish();
            reject(new Error(`${entry} exited (code ${code}) before printing ${re}\n--- last lines ---\n${tail()}`));
          },
          () => {},
        );
      });
    },
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (!done) {
        child.kill(signal);
        const timer = setTimeout(() => killQuietly(child.pid), KILL_BUDGET_MS);
        const code = await exited;
        clearTimeout(timer);
        return code;
      }
      return exited;
    },
  };
}
