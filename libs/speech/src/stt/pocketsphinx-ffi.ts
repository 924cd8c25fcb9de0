// koffi bindings to Debian's libpocketsphinx3 / libsphinxbase3 (0.8+5prealpha API).
// Handles are opaque `void*`; named koffi types are avoided because koffi registers names
// process-wide and a second engine would collide.
import { loadKoffi } from '../koffi-runtime';

export type Ptr = object;

export interface PocketSphinxLib {
  ps_args(): Ptr;
  cmd_ln_parse_r(inout: Ptr | null, defn: Ptr, argc: number, argv: string[], strict: number): Ptr | null;
  cmd_ln_free_r(cfg: Ptr): number;
  ps_init(cfg: Ptr): Ptr | null;
  ps_free(ps: Ptr): number;
  ps_start_utt(ps: Ptr): number;
  ps_end_utt(ps: Ptr): number;
  ps_process_raw(ps: Ptr, data: Int16Array, n: number, noSearch: number, fullUtt: number): number;
  ps_get_hyp(ps: Ptr, score: number[]): string | null;
  ps_get_prob(ps: Ptr): number;
  ps_get_logmath(ps: Ptr): Ptr;
  ps_get_in_speech(ps: Ptr): number;
  ps_set_lm(ps: Ptr, name: string, lm: Ptr): number;
  ps_set_search(ps: Ptr, name: string): number;
  logmath_exp(lmath: Ptr, logb: number): number;
  ngram_model_read(cfg: Ptr, path: string, type: number, lmath: Ptr): Ptr | null;
  ngram_model_set_init(cfg: Ptr, models: Ptr[], names: string[], weights: Float32Array, n: number): Ptr | null;
  ngram_model_free(lm: Ptr): number;
  err_set_logfp(fp: null): void;
  err_set_logfile(path: string): number;
  /** Runs a binding on koffi's worker thread: for slow setup calls on objects not yet shared. */
  async<R>(name: keyof Omit<PocketSphinxLib, 'async'>, ...args: unknown[]): Promise<R>;
}

export const NGRAM_AUTO = 0;

export function loadPocketSphinx(libraries: { pocketsphinx: string; sphinxbase: string }): PocketSphinxLib {
  const koffi = loadKoffi();
  const ps = koffi.load(libraries.pocketsphinx);
  const sb = koffi.load(libraries.sphinxbase);
  const fns = {
    ps_args: ps.func('void* ps_args()'),
    cmd_ln_parse_r: sb.func('void* cmd_ln_parse_r(void* inout, void* defn, int argc, const char** argv, int strict)'),
    cmd_ln_free_r: sb.func('int cmd_ln_free_r(void* cfg)'),
    ps_init: ps.func('void* ps_init(void* cfg)'),
    ps_free: ps.func('int ps_free(void* ps)'),
    ps_start_utt: ps.func('int ps_start_utt(void* ps)'),
    ps_end_utt: ps.func('int ps_end_utt(void* ps)'),
    ps_process_raw: ps.func('int ps_process_raw(void* ps, const int16_t* data, size_t n, int no_search, int full_utt)'),
    ps_get_hyp: ps.func('const char* ps_get_hyp(void* ps, _Out_ int32_t* score)'),
    ps_get_prob: ps.func('int32_t ps_get_prob(void* ps)'),
    ps_get_logmath: ps.func('void* ps_get_logmath(void* ps)'),
    ps_get_in_speech: ps.func('uint8_t ps_get_in_speech(void* ps)'),
    ps_set_lm: ps.func('int ps_set_lm(void* ps, const char* name, void* lm)'),
    ps_set_search: ps.func('int ps_set_search(void* ps, const char* name)'),
    logmath_exp: sb.func('double logmath_exp(void* lmath, int32_t logb)'),
    ngram_model_read: sb.func('void* ngram_model_read(void* cfg, const char* path, int type, void* lmath)'),
    ngram_model_set_init: sb.func(
      'void* ngram_model_set_init(void* cfg, void** models, const char** names, const float* weights, int32_t n)',
    ),
    ngram_model_free: sb.func('int ngram_model_free(void* lm)'),
    err_set_logfp: sb.func('void err_set_logfp(void* fp)'),
    err_set_logfile: sb.func('int err_set_logfile(const char* path)'),
  };
  // Held so koffi never unloads the libraries while decoders exist (a collected handle is dlclosed).
  const lib = Object.assign(fns, { keepAlive: [ps, sb] }) as unknown as PocketSphinxLib;
  lib.async = <R>(name: keyof typeof fns, ...args: unknown[]): Promise<R> =>
    new Promise<R>((resolve, reject) => {
      fns[name].async(...args, (err: unknown, res: R) => (err ? reject(err as Error) : resolve(res)));
    });
  return lib;
}
