// One process-wide cleanup registry. This is the single deliberate piece of module-level state in
// the testkit: process exit is process-wide, and a failing test must still not leave nats-servers
// or temp dirs behind. Cleanups are synchronous because the 'exit' event allows nothing else.
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

/** SIGKILL a pid if it still exists (also works on SIGSTOPped processes). */
export function killQuietly(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
