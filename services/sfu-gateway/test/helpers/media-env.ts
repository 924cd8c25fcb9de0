// Real parts for the media tests: the mediasoup worker built by scripts/mediasoup/build-worker.sh,
// Debian's Chromium driven by playwright-core, WAVs made with flite + sox, the test page bundled
// with esbuild and served on 127.0.0.1 (a secure context, so getUserMedia works).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { Browser, Page } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(HERE, '../../../..');

/** Builds (first time, ~4–15 min) or reuses the cached worker; returns its path. */
/**
 * Real-time playout assertions in Chromium (latency, flush-to-silence, silence windows) are opt-in
 * with STRICT_MEDIA_TIMING=1, on quiet cores: with other timed work on the same 2 cores an
 * event-loop stall of ~250 ms still grows Chromium's jitter buffer to ~125 ms and fails them (the
 * full suite on a loaded machine). The figures are always printed; bench/e2e reports them.
 */
export const STRICT_MEDIA_TIMING = process.env['STRICT_MEDIA_TIMING'] === '1';

export function workerBin(): string {
  const script = join(REPO_ROOT, 'scripts/mediasoup/build-worker.sh');
  const out = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 30 * 60_000 });
  const bin = out.trim().split('\n').pop() ?? '';
  if (!existsSync(bin)) throw new Error(`build-worker.sh printed no binary path (got ${JSON.stringify(bin)})`);
  return bin;
}

export function ensureChromium(): string {
  const bin = '/usr/bin/chromium';
  if (!existsSync(bin)) {
    execFileSync('apt-get', ['install', '-y', '-q', 'chromium'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  return bin;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Speech padded with silence, as a 48 kHz file for Chromium's fake capture (it loops) and the same
 * audio at 16 kHz for comparisons. The loop length is an exact multiple of 20 ms.
 */
export function makeSpeechWav(dir: string, text: string, padBeforeS = 0.6, padAfterS = 1.4): { wav48: string; wav16: string; loopMs: number } {
  const raw = join(dir, 'speech-raw.wav');
  const wav48 = join(dir, 'speech-48k.wav');
  const wav16 = join(dir, 'speech-16k.wav');
  execFileSync('flite', ['-voice', 'slt', '-t', text, '-o', raw]);
  const lenS = Number(execFileSync('soxi', ['-D', raw], { encoding: 'utf8' }).trim());
  const totalMs = Math.ceil(((lenS + padBeforeS + padAfterS) * 1000) / 20) * 20;
  // Pad a little more than needed, then cut to exactly totalMs.
  execFileSync('sox', [raw, '-r', '48000', '-b', '16', '-c', '1', wav48, 'pad', String(padBeforeS), String(padAfterS + 0.1), 'trim', '0', `${totalMs / 1000}`]);
  execFileSync('sox', [wav48, '-r', '16000', wav16]);
  return { wav48, wav16, loopMs: totalMs };
}

export function readWavPcm16(path: string): { sampleRate: number; samples: Int16Array } {
  const b = readFileSync(path);
  if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') throw new Error(`${path} is not a WAV`);
  let off = 12;
  let sampleRate = 0;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === 'fmt ') sampleRate = b.readUInt32LE(off + 12);
    if (id === 'data') {
      const data = b.subarray(off + 8, off + 8 + size);
      const samples = new Int16Array(data.length / 2);
      for (let i = 0; i < samples.length; i++) samples[i] = data.readInt16LE(i * 2);
      return { sampleRate, samples };
    }
    off += 8 + size + (size & 1);
  }
  throw new Error(`${path}: no data chunk`);
}

/** RMS per block of `block` samples. */
export function envelope(samples: Int16Array, block: number): Float64Array {
  const n = Math.floor(samples.length / block);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < block; j++) {
      const x = samples[i * block + j]! / 32768;
      s += x * x;
    }
    out[i] = Math.sqrt(s / block);
  }
  return out;
}

function pearson(a: Float64Array, b: Float64Array, lag: number): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[(i + lag) % n]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i]! - ma;
    const y = b[(i + lag) % n]! - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  return sab / Math.sqrt(saa * sbb || 1);
}

/** Best Pearson correlation of a against every circular shift of b (same length). */
export function bestCircularCorrelation(a: Float64Array, b: Float64Array): { r: number; lag: number } {
  let best = { r: -1, lag: 0 };
  for (let lag = 0; lag < b.length; lag++) {
    const r = pearson(a, b, lag);
    if (r > best.r) best = { r, lag };
  }
  return best;
}

export async function bundlePage(): Promise<string> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [join(HERE, '../fixtures/call-page.ts')],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'chrome110',
    write: false,
    logLevel: 'warning',
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error('esbuild produced nothing');
  return file.text;
}

/** Serves the test page on 127.0.0.1:<random>. */
export async function servePage(bundle: string): Promise<{ url: string; close: () => Promise<void> }> {
  const html = '<!doctype html><html><head><meta charset="utf-8"><title>call test</title></head><body><script src="/page.js"></script></body></html>';
  const server = createServer((req, res) => {
    if (req.url === '/page.js') {
      res.writeHead(200, { 'content-type': 'application/javascript' });
      res.end(bundle);
    } else {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(html);
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

export async function launchChromium(fakeAudioWav: string): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  // playwright-core's launch() starts Chromium with a new empty user-data-dir of its own
  // (it refuses a --user-data-dir flag).
  return chromium.launch({
    executablePath: ensureChromium(),
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--allow-loopback-in-peer-connection',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${fakeAudioWav}`,
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** browserEpoch − nodeEpoch, from the round trip with the smallest RTT of a few tries. */
export async function clockOffset(page: Page): Promise<{ offsetMs: number; rttMs: number }> {
  let best = { offsetMs: 0, rttMs: Infinity };
  for (let i = 0; i < 7; i++) {
    const t0 = epochNow();
    const b = await page.evaluate(() => window.epochNow());
    const t1 = epochNow();
    if (t1 - t0 < best.rttMs) best = { offsetMs: b - (t0 + t1) / 2, rttMs: t1 - t0 };
  }
  return best;
}

/** A sine tone as PCM16 16 kHz. */
export function tonePcm16k(ms: number, hz = 440, amplitude = 0.3): Buffer {
  const n = Math.round((ms * 16000) / 1000);
  const b = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(Math.sin((2 * Math.PI * hz * i) / 16000) * amplitude * 32767), i * 2);
  return b;
}

export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}
