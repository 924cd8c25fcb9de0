// One process-wide cleanup registry. This is the single deliberate piece of module-level state in
// the testkit: process exit is process-wide, and a failing test must still not leave nats-servers
// or temp dirs behind. Cleanups are synchronous because the 'exit' event allows nothing else.
import { readFileSync } from 'node:fs';

type Cleanup = () => void;

const cleanups = new Set<Cleanup>();
let installed = false;

function runAll(): void {
  for (const c of [...cleanups].reverse()) {
    try {
      c();
    } catch {
      // best effort: one failing cleanup must not skip the others
    }
  }
  cleanups.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      runAll();
      process.exit(sig === 'SIGINT' ? 130 : sig === 'SIGTERM' ? 143 : 129);
    });
  }
}

/** Registers a synchronous cleanup to run at process exit; returns a function that unregisters it. */
export function onExit(fn: Cleanup): () => void {
  install();
  cleanups.add(fn);
  return () => {
    cleanups.delete(fn);
  };
}


export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The process state letter from Linux /proc (R, S, T stopped, Z zombie...), undefined if gone. */
export function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state is the field after the ")" that closes the command name.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** Spins (synchronously) until `pred(state)` holds or `budgetMs` passes; returns whether it held. */
export function waitProcState(pid: number, pred: (state: string | undefined) => boolean, budgetMs: number): boolean {
  const deadline = Date.now() + budgetMs;
  for (;;) {
    if (pred(procState(pid))) return true;
    if (Date.now() >= deadline) return false;
    sleepSync(2);
  }
}

/** True once the process is gone or a zombie (dead, awaiting reaping by us). */
function isDead(pid: number): boolean {
  const state = procState(pid);
  return state === undefined || state === 'Z' || state === 'X';
}

/**
 * SIGKILL a pid if it still exists (also works on SIGSTOPped processes) and, when `waitMs` > 0,
 * wait synchronously until it is dead, so that removing its files afterwards cannot race with
 * its last writes.
 */
export function killQuietly(pid: number | undefined, waitMs = 0): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return; // already gone
  }
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline && !isDead(pid)) sleepSync(5);
}
