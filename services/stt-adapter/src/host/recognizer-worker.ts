// Worker-thread side of the worker host: its own VAD + STT engines and an inline host; the main
// thread sends frames, mic changes and open/close, and gets events back.
import { parentPort, workerData } from 'node:worker_threads';
import type { SttAdapterConfig } from '../config';
import { createEngines, type SttEngines } from '../providers';
import type { HostedSession, RecognizerSettings } from './host';
import { createInlineHost, errInfo } from './inline-host';
import type { FromWorker, ToWorker } from './worker-protocol';

const port = parentPort!;
const { config, settings } = workerData as { config: SttAdapterConfig; settings: RecognizerSettings };
const post = (m: FromWorker, transfer?: ArrayBuffer[]): void => port.postMessage(m, transfer);

let engines: SttEngines;
try {
  engines = await createEngines(config, {
    warn: (obj, msg) => post({ t: 'log', level: 'warn', obj, msg }),
    info: (obj, msg) => post({ t: 'log', level: 'info', obj, msg }),
  });
} catch (err) {
  post({ t: 'fatal', ...errInfo(err) });
  port.close();
  throw err;
}
const host = createInlineHost(engines, settings);
const sessions = new Map<string, HostedSession>();

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'open': {
      if (sessions.has(m.id)) return;
      const s = host.open({
        sessionId: m.id,
        mic: m.mic,
        ...(m.resume ? { resume: m.resume } : {}),
        firstUtterance: m.firstUtterance,
        sink: (ev) => post({ t: 'event', id: m.id, ev }),
        onError: (msg, err) => post({ t: 'error', id: m.id, msg, err }),
        // Progress back to the main thread, which bounds what it queues per session.
        onFrameDone: (ms) => {
          const s = sessions.get(m.id);
          if (s) post({ t: 'done', id: m.id, ms, ...s.state });
        },
      });
      sessions.set(m.id, s);
      return;
    }
    case 'frame': {
      const s = sessions.get(m.id);
      if (!s) return;
      s.push({ audioMs: m.audioMs, samples: new Int16Array(m.pcm), afterJump: m.afterJump });
      return;
    }
    case 'mic':
      sessions.get(m.id)?.setMic(m.mic);
      return;
    case 'close': {
      const s = sessions.get(m.id);
      sessions.delete(m.id);
      void (s ? s.close() : Promise.resolve()).then(() => post({ t: 'closed', id: m.id }));
      return;
    }
    case 'shutdown':
      void (async () => {
        await Promise.all([...sessions.values()].map((s) => s.close()));
        sessions.clear();
        await host.close();
        post({ t: 'bye' });
        port.close();
      })();
      return;
  }
});

setInterval(() => post({ t: 'stats', decodersInUse: host.decodersInUse() }), 500).unref();
post({ t: 'ready' });
