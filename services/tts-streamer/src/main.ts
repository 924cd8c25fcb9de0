import { runMain } from '@switchboard/runtime';
import { ttsStreamerService } from './service';

runMain(ttsStreamerService);
