import { runMain } from '@switchboard/runtime';
import { sfuGatewayService } from './service';

runMain(sfuGatewayService);
