import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { onExit } from './cleanup';

/** Where the OS picks ports for outgoing connections and listen(0) (Linux's range; its default elsewhere). */
export function ephemeralPortRange(): { low: number; high: number } {
  try {
    const [low, high] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high) && low! > 0 && high! >= low!) return { low: low!, high: high! };
  } catch {
    // not Linux: fall through
  }
  return { low: 32768, high: 60999 };
}

/** Ports freePort draws from: below the ephemeral range, above the well-known and registered-daemon ports. */
const POOL_LOW = 20_000;

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * A TCP port that was free on 127.0.0.1 a moment ago, for a child process to listen on. Drawn at
 * random from below the ephemeral range: a port the OS handed out by listen(0) is also one it can
 * hand to an outgoing connection (a NATS client, Chromium) before the child binds it, and the
 * child then fails with EADDRINUSE (seen: bench/e2e at 6 calls, stt-adapter's HTTP port).
 */
export async function freePort(): Promise<number> {
  const { low } = ephemeralPortRange();
  const top = Math.min(low, 65_536);
  if (top - POOL_LOW >= 1_000) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = POOL_LOW + Math.floor(Math.random() * (top - POOL_LOW));
      if (await canListen(port)) return port;
    }
  }
  // No room below the ephemeral range (or all tries taken): let the OS pick.
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A fresh directory under the OS temp dir, removed (recursively) at process exit. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), prefix.endsWith('-') ? prefix : `${prefix}-`));
  onExit(() => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 }));
  return dir;
}

/** Resolves true once a TCP connect to host:port succeeds. */
export function canConnect(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
