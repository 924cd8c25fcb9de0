import { runMain } from '@switchboard/runtime';
import { ragWorkerService } from './service';

runMain(ragWorkerService);
