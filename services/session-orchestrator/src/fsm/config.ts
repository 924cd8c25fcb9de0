import { z } from 'zod';

/**
 * Budgets and knobs of the session state machine. Parsed once at the edge (the shell) with
 * `parseFsmConfig`; the reducer trusts what it is given.
 */
export const FsmConfigSchema = z.object({
  /** THINKING longer than this plays a filler ("One moment…"). */
  fillerAfterMs: z.number().int().positive().default(1200),
  /** Silence in LISTENING before a no-input prompt. */
  noInputMs: z.number().int().positive().default(8000),
  /** The no-input timeout that reaches this count hangs up instead of prompting. */
  maxNoInput: z.number().int().positive().default(2),
  /** A turn whose answer has not arrived after this is abandoned with an apology. */
  turnTimeoutMs: z.number().int().positive().default(10000),
  /** Added to TTS_DONE's audio length before we stop waiting for PLAYBACK_DONE. */
  playbackGraceMs: z.number().int().nonnegative().default(3000),
  /** SPEAKING without TTS_DONE for this long is treated as lost (tts replica died). */
  speakTimeoutMs: z.number().int().positive().default(30000),
  /** Ask the rag-worker to skip intent classification. */
  skipIntent: z.boolean().default(false),
  /** Finished exchanges sent with each RAG_QUERY (and kept in state). */
  // The contracts cap RAG_QUERY history at 16 turns.
  historyTurns: z.number().int().nonnegative().max(16).default(4),
  /** Fade applied by the gateway when a barge-in flushes playback. */
  flushFadeMs: z.number().int().nonnegative().default(5),
  /** Texts for cached utterances; the tts-streamer synthesises them on a cache miss. */
  prompts: z
    .object({
      filler: z.string().min(1).default('One moment…'),
      noInput: z.string().min(1).default('Are you still there?'),
      apology: z.string().min(1).default('Sorry, something went wrong. Could you say that again?'),
    })
    .prefault({}),
});

export type FsmConfig = z.infer<typeof FsmConfigSchema>;

/** Validates and fills defaults; throws a ZodError on bad input (config errors are fatal). */
export function parseFsmConfig(input: unknown = {}): FsmConfig {
  return FsmConfigSchema.parse(input ?? {});
}

export function defaultFsmConfig(): FsmConfig {
  return FsmConfigSchema.parse({});
}
