// Recognizers on this thread: one promise chain per session, so a session's frames and mic
// changes are applied strictly in order while sessions interleave (a final's search pass runs
// on a koffi thread, so one session decoding does not stall the others).
import { SessionRecognizer, type Mic, type RecognizerFrame } from '../core/session-recognizer';
import type { SttEngines } from '../providers';
import type { HostedSession, OpenSession, RecognizerHost, RecognizerSettings } from './host';

export function createInlineHost(engines: SttEngines, settings: RecognizerSettings): RecognizerHost {
  return {
    kind: 'inline',
    open(o: OpenSession): HostedSession {
      const rec = new SessionRecognizer({
        vad: engines.vad,
        stt: engines.stt,
        segmenter: settings.segmenter,
        prerollMs: settings.prerollMs,
        partialEveryMs: settings.partialEveryMs,
        maxUtteranceMs: settings.maxUtteranceMs,
        gatedGraceMs: settings.gatedGraceMs,
        resumeToleranceMs: settings.resumeToleranceMs,
        gatedOnsetConfirmMs: settings.gatedOnsetConfirmMs,
        earlyFinalMs: settings.earlyFinalMs,
        completeEndMs: settings.completeEndMs,
        rejoinMs: settings.rejoinMs,
        language: settings.language,
        mic: o.mic,
        ...(o.resume ? { resume: o.resume } : {}),
        firstUtterance: o.firstUtterance,
        sink: o.sink,
        onSttError: (err, utterance) => o.onError(`speech recognition failed (utterance ${utterance})`, errInfo(err)),
      });
      if (o.mic === 'CLOSED') rec.close();
      let chain: Promise<void> = Promise.resolve();
      let pending = 0;
      let closed = false;
      const run = (what: string, fn: () => Promise<void>): void => {
        chain = chain.then(async () => {
          if (closed) return;
          try {
            await fn();
          } catch (err) {
            o.onError(`${what} failed`, errInfo(err));
          }
        });
      };
      return {
        get pending() {
          return pending;
        },
        get state() {
          return { mic: rec.mic, speaking: rec.speaking, decoding: rec.decoding };
        },
        push(frame: RecognizerFrame) {
          if (closed) return;
          pending++;
          run('processing audio', async () => {
            const t0 = performance.now();
            try {
              await rec.push(frame);
            } finally {
              pending--;
              o.onFrameDone?.(performance.now() - t0);
            }
          });
        },
        setMic(mic: Mic) {
          run('applying MIC_SET', () => rec.setMic(mic));
        },
        async close() {
          if (!closed) {
            closed = true;
            rec.close();
          }
          await chain;
          pending = 0;
        },
      };
    },
    decodersInUse: () => engines.decodersInUse?.() ?? 0,
    close: () => engines.close(),
  };
}

export function errInfo(err: unknown): { message: string; code?: string } {
  const e = err as { message?: unknown; code?: unknown };
  return { message: String(e?.message ?? err), ...(typeof e?.code === 'string' ? { code: e.code } : {}) };
}
