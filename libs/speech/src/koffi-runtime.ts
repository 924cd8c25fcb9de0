// One place that loads koffi and sizes its async stacks. `.async()` calls (flite synthesis,
// decoder construction) run on koffi's own stacks, 128 KB by default versus 2 MB for sync
// calls; these C libraries were written for ordinary thread stacks, so async gets 4 MB too
// (a precaution: no overflow was observed). koffi only accepts the change before its first call.
import { createRequire } from 'node:module';
import type * as Koffi from 'koffi';

const require = createRequire(import.meta.url);
const ASYNC_STACK = 4 * 1024 * 1024;

export function loadKoffi(): typeof Koffi {
  const koffi = require('koffi') as typeof Koffi;
  const current = koffi.config();
  if ((current.async_stack_size ?? 0) < ASYNC_STACK) {
    try {
      koffi.config({ ...current, async_stack_size: ASYNC_STACK });
    } catch (cause) {
      throw new Error(`koffi was used before @switchboard/speech could size its async stacks: ${String(cause)}`, { cause });
    }
  }
  return koffi;
}
