// The tts-streamer's own settings (the base ones — NATS, ports, logging — come from
// @switchboard/runtime). Parsed once from the environment with zod; a bad value stops start-up
// with a message naming the variable.
import { z } from 'zod';
import { FliteConfigSchema } from '@switchboard/speech';
import { LIMITS } from '@switchboard/contracts';

/**
 * Utterances synthesized at start-up and served by cache key. The orchestrator sends the key
 * (`filler`, `no_input`, `apology`) and a text; a known key is served from here, so the words
 * spoken for a key are configured in one place (this service).
 */
export const DEFAULT_CACHE_TEXTS: Readonly<Record<string, string>> = {
  filler: 'One moment, let me check that.',
  no_input: 'Are you still there?',
  apology: 'Sorry, something went wrong. Could you say that again?',
  goodbye: 'Thank you for calling. Goodbye.',
};

const cacheTexts = z
  .string()
  .transform((raw, ctx) => {
    try {
      return JSON.parse(raw) as unknown;
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not JSON: ${(err as Error).message}` });
      return z.NEVER;
    }
  })
  .pipe(z.record(z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/), z.string().trim().min(1).max(LIMITS.maxTextChars)));

export const TtsConfigSchema = z.object({
  /** Flite voice (Debian libflite voices). */
  TTS_VOICE: FliteConfigSchema.shape.voice,
  /**
   * How far ahead of the wall clock audio may be published. The gateway has its own send clock
   * and jitter buffer; a small lead hides bus/scheduling jitter, a large one would mean audio of
   * a cancelled turn already sits in the gateway's queue (it drops it by turn id, but it is
   * cheaper never to send it).
   */
  TTS_AHEAD_MS: z.coerce.number().int().min(20).max(5_000).default(400),
  /** Longer texts are cut at a word boundary (and logged at warn): audio this long is a bug upstream. */
  TTS_MAX_TEXT_CHARS: z.coerce.number().int().min(1).max(LIMITS.maxTextChars).default(2_000),
  /** JSON object cache key → text, synthesized at start-up. */
  TTS_CACHE_TEXTS: cacheTexts.default(() => ({ ...DEFAULT_CACHE_TEXTS })),
  /** Texts cached at run time (an unknown cache key with a text), on top of the start-up ones. */
  TTS_CACHE_MAX_ENTRIES: z.coerce.number().int().min(0).max(10_000).default(64),
  /** Utterances streamed at once by this replica (one at a time per session). */
  TTS_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(1_000).default(32),
  /** Deliveries of a speak command before it is dead-lettered (the turn then gets an ERROR event). */
  // Deliveries to replicas that died count too (found by the pipeline reliability run: a speak
  // handed on by three dying replicas was dead-lettered unspoken); a redelivery resumes after the
  // last frame and TTS_SPEAK_MAX_AGE_MS bounds how late it may still be spoken.
  TTS_MAX_DELIVER: z.coerce.number().int().min(1).max(20).default(8),
  /**
   * ack_wait of the shared speak consumer: a replica that dies mid-utterance has its speak handed
   * to another replica this soon (which continues after the frames already sent). Live handlers
   * report progress every third of it.
   */
  TTS_ACK_WAIT_MS: z.coerce.number().int().min(1_000).max(60_000).default(4_000),
  /**
   * Another replica's utterance of the same call holds this one back until its last frame (or
   * its cancel); frames that stopped this long ago mean that replica is gone.
   */
  TTS_SESSION_STALL_MS: z.coerce.number().int().min(100).max(10_000).default(1_500),
  /** A speak command older than this (a backlog after an outage) is not spoken: TTS_DONE cancelled. */
  TTS_SPEAK_MAX_AGE_MS: z.coerce.number().int().min(1_000).default(15_000),
  /** How long a cancel is remembered, so a speak that arrives after its cancel stays silent. */
  TTS_CANCEL_MEMORY_TTL_MS: z.coerce.number().int().min(1_000).default(60_000),
  TTS_CANCEL_MEMORY_MAX: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  /** The per-replica cancel consumer is removed by the server this long after its replica stops pulling. */
  TTS_CANCEL_CONSUMER_INACTIVE_MS: z.coerce.number().int().min(1_000).default(60_000),
  /** On stop, utterances already streaming may finish for this long, then they are cut (TTS_DONE cancelled). */
  TTS_DRAIN_MS: z.coerce.number().int().min(0).default(5_000),
});

export type TtsConfig = z.infer<typeof TtsConfigSchema>;
