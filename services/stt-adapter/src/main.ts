import { runMain } from '@switchboard/runtime';
import { sttAdapterService } from './service';

runMain(sttAdapterService);
