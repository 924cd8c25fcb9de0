// The call page: web/index.html + web/call.css, and src/page/call.ts bundled with esbuild
// (mediasoup-client inside).
// Built in memory when the gateway starts (~0.3 s), so the page always matches the source and
// there is no separate build step or stale artefact to ship.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GatewayStartupError } from './config';

const HERE = dirname(fileURLToPath(import.meta.url));
export const WEB_DIR = resolve(HERE, '../web');

export interface WebAssets {
  html: string;
  js: string;
  css: string;
}

export async function buildWebAssets(): Promise<WebAssets> {
  const esbuild = await import('esbuild');
  let js: string;
  try {
    const result = await esbuild.build({
      entryPoints: [join(HERE, 'page/call.ts')],
      bundle: true,
      format: 'iife',
      platform: 'browser',
      target: 'chrome100',
      minify: true,
      write: false,
      charset: 'utf8',
      logLevel: 'silent',
    });
    const file = result.outputFiles[0];
    if (!file) throw new Error('esbuild produced no output');
    js = file.text;
  } catch (err) {
    throw new GatewayStartupError('WEB_BUNDLE_FAILED', `building the call page failed: ${(err as Error).message}`);
  }
  return { html: readFileSync(join(WEB_DIR, 'index.html'), 'utf8'), css: readFileSync(join(WEB_DIR, 'call.css'), 'utf8'), js };
}
