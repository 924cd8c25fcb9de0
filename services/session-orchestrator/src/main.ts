import { runMain } from '@switchboard/runtime';
import { orchestratorService } from './service';

runMain(orchestratorService);
