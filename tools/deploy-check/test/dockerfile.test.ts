// deploy/Dockerfile cannot be built here (no Docker engine): it is linted instead, and the
// linter itself is shown to catch each rule on a bad Dockerfile.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICES } from '../../../libs/contracts/src/subjects';
import { REPO_ROOT, lintDockerfile, parseDockerfile } from '../src/index';

const DOCKERFILE = readFileSync(join(REPO_ROOT, 'deploy', 'Dockerfile'), 'utf8');
const ENTRYPOINT = join(REPO_ROOT, 'deploy', 'docker-entrypoint.sh');

void describe('deploy/Dockerfile', () => {
  void it('passes the lint: pinned bases, non-root USER, HEALTHCHECK, entry point', () => {
    assert.deepEqual(lintDockerfile(DOCKERFILE), []);
  });

  void it('is multi-stage on Debian bookworm-slim Node 20 and builds the mediasoup worker + production deps', () => {
    const ins = parseDockerfile(DOCKERFILE);
    const froms = ins.filter((i) => i.op === 'FROM');
    assert.equal(froms.length, 2);
    assert.ok(froms.every((f) => f.args.startsWith('node:${NODE_VERSION}-${DEBIAN_SUITE}-slim')));
    assert.ok(ins.some((i) => i.op === 'ARG' && /^NODE_VERSION=20\.\d+\.\d+$/.test(i.args)));
    assert.ok(ins.some((i) => i.op === 'ARG' && i.args === 'DEBIAN_SUITE=bookworm'));
    const runs = ins.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
    assert.match(runs, /bash scripts\/mediasoup\/build-worker\.sh/);
    assert.match(runs, /pnpm install --frozen-lockfile --prod/);
    for (const pkg of ['pocketsphinx-en-us', 'libpocketsphinx3', 'flite', 'espeak-ng', 'libsrtp2-1', 'libusrsctp2']) assert.match(runs, new RegExp(`\\b${pkg}\\b`), pkg);
    const user = ins.filter((i) => i.op === 'USER').at(-1);
    assert.equal(user?.args, '10001:10001', 'the uid the chart runs as');
    assert.ok(ins.some((i) => i.op === 'ENV' && /MEDIASOUP_WORKER_BIN=/.test(i.args)));
  });

  void it('the entry point knows exactly the five services (+ provision) and refuses to start without one', () => {
    const text = readFileSync(ENTRYPOINT, 'utf8');
    const caseLine = /^\s*(sfu-gateway\|[^)]*)\)/m.exec(text)?.[1]?.split('|') ?? [];
    assert.deepEqual([...caseLine].sort(), [...SERVICES].sort());
    const r = spawnSync('sh', [ENTRYPOINT], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' });
    assert.equal(r.status, 64);
    assert.match(r.stderr, /set SERVICE to one of sfu-gateway/);
  });

  void it('the lint catches each rule', () => {
    const good = 'FROM node:20.20.0-bookworm-slim\nUSER 10001\nHEALTHCHECK CMD true\nCMD ["node"]\n';
    assert.deepEqual(lintDockerfile(good), []);
    const cases: [string, RegExp][] = [
      ['FROM node:latest\nUSER 10001\nHEALTHCHECK CMD true\nCMD ["x"]\n', /uses latest/],
      ['FROM node\nUSER 10001\nHEALTHCHECK CMD true\nCMD ["x"]\n', /has no tag/],
      ['ARG V=latest\nFROM node:${V}\nUSER 1\nHEALTHCHECK CMD true\nCMD ["x"]\n', /uses latest/],
      ['FROM node:20 AS b\nUSER 1\nFROM node:20\nHEALTHCHECK CMD true\nCMD ["x"]\n', /final stage has no USER/],
      ['FROM node:20\nUSER root\nHEALTHCHECK CMD true\nCMD ["x"]\n', /final USER is root/],
      ['FROM node:20\nUSER 1\nCMD ["x"]\n', /no HEALTHCHECK/],
      ['FROM node:20\nUSER 1\nHEALTHCHECK NONE\nCMD ["x"]\n', /HEALTHCHECK NONE/],
      ['FROM node:20\nRUN apt-get install -y \\\n  flite\nUSER 1\nHEALTHCHECK CMD true\nCMD ["x"]\n', /--no-install-recommends/],
      ['FROM node:20\nRUN curl -fsSL https://x | sh\nUSER 1\nHEALTHCHECK CMD true\nCMD ["x"]\n', /pipes a download/],
    ];
    for (const [text, problem] of cases) {
      const found = lintDockerfile(text);
      assert.ok(found.some((p) => problem.test(p)), `${JSON.stringify(text)} → ${JSON.stringify(found)}`);
    }
  });
});
