import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { spawnNode } from '@switchboard/testkit';

const fixture = (name: string) => path.join(import.meta.dirname, 'fixtures', name);

/** Running (not gone, not a zombie: orphans may never be reaped in this VM). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

async function waitGone(pid: number, budgetMs = 5000): Promise<boolean> {
  const deadline = Date.now() + budgetMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

void describe('spawnNode', () => {
  void it('runs a TypeScript entry with env and args, and waits for lines on stdout and stderr', async () => {
    const child = spawnNode(fixture('echo-child.ts'), { env: { GREET_WHO: 'ప్రపంచం' }, args: ['a', 'b'] });
    try {
      assert.ok(child.pid > 0);
      assert.equal(await child.waitForLine(/^ready$/), 'ready');
      assert.equal(await child.waitForLine(/^hello /), 'hello ప్రపంచం'); // already printed: found in history
      assert.equal(await child.waitForLine(/^args=/), 'args=a,b'); // from stderr
      await child.waitForLine(/^tick$/);
      await assert.rejects(child.waitForLine(/never printed/, 200), /no line matching \/never printed\/ within 200 ms/);
    } finally {
      assert.equal(await child.kill(), 7, 'SIGTERM handler chose exit code 7');
    }
    assert.ok(child.lines.includes('draining'), 'output after the signal is captured');
    assert.equal(await child.exited, 7);
    assert.equal(await child.kill(), 7, 'kill after exit is harmless');
  });

  void it('rejects a wait when the child exits first, and reports the exit code', async () => {
    const child = spawnNode(fixture('echo-child.ts'), { args: ['--exit-now'] });
    await assert.rejects(child.waitForLine(/^ready$/, 5000), /exited \(code 3\) before printing/);
    assert.equal(await child.exited, 3);
  });

  void it('SIGKILL ends a child; exit code is null', async () => {
    const child = spawnNode(fixture('echo-child.ts'));
    await child.waitForLine(/^ready$/);
    assert.equal(await child.kill('SIGKILL'), null);
    assert.equal(alive(child.pid), false);
  });
});

void describe('cleanup at exit', () => {
  for (const mode of ['sigterm', 'sigint', 'throw', 'exit'] as const) {
    void it(`kills nats-server and removes temp dirs when the test process ends by ${mode}`, async () => {
      const child = spawnNode(fixture('orphan-guard.ts'), { args: [mode] });
      const line = await child.waitForLine(/^started pid=/, 15_000);
      const m = /pid=(\d+) dir=(\S+) store=(\S+)/.exec(line);
      assert.ok(m);
      const [, pidText, dir, store] = m;
      const natsPid = Number(pidText);
      assert.ok(alive(natsPid));
      assert.ok(existsSync(dir ?? '') && existsSync(store ?? ''));
      if (mode === 'sigterm') await child.kill('SIGTERM');
      else if (mode === 'sigint') await child.kill('SIGINT');
      else await child.kill('SIGUSR2');
      const code = await child.exited;
      assert.equal(code, { sigterm: 143, sigint: 130, throw: 1, exit: 1 }[mode], 'exited through its handlers');
      assert.ok(await waitGone(natsPid), `nats-server ${natsPid} survived ${mode}`);
      assert.equal(existsSync(dir ?? ''), false, 'temp dir removed');
      assert.equal(existsSync(store ?? ''), false, 'store dir removed');
    });
  }
});
