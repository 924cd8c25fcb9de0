// Timing-sensitive test files (real-time audio, browsers, kill -9 with takeover budgets) hold
// one machine-wide lock so that two of them never compete for the same 2 cores, while light
// test files keep running beside them. The lock is released when the file's process exits; a
// lock left by a dead process is taken over.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const LOCK_DIR = path.join(os.tmpdir(), 'switchboard-tests', 'exclusive.lock');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Wait until no other timing-sensitive test file runs (budget `maxWaitMs`, then run anyway). */
export async function exclusiveTestFile(maxWaitMs = 30 * 60_000): Promise<void> {
  mkdirSync(path.dirname(LOCK_DIR), { recursive: true });
  const until = Date.now() + maxWaitMs;
  for (;;) {
    try {
      mkdirSync(LOCK_DIR);
      writeFileSync(path.join(LOCK_DIR, 'pid'), String(process.pid));
      process.once('exit', () => {
        try {
          if (readFileSync(path.join(LOCK_DIR, 'pid'), 'utf8') === String(process.pid)) rmSync(LOCK_DIR, { recursive: true, force: true });
        } catch {
          // already gone
        }
      });
      return;
    } catch {
      let holder = NaN;
      try {
        holder = Number(readFileSync(path.join(LOCK_DIR, 'pid'), 'utf8'));
      } catch {
        // being created or removed right now
      }
      if (Number.isInteger(holder) && holder > 0 && !alive(holder)) rmSync(LOCK_DIR, { recursive: true, force: true });
      if (Date.now() > until) {
        process.stderr.write(`exclusiveTestFile: waited ${maxWaitMs} ms for pid ${holder}; running anyway\n`);
        return;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
