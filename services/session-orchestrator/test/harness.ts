// Shared by the orchestrator's integration tests: a real nats-server, producers that publish
// events like the other services do, and a recorder of every command on the command streams.
import { DeliverPolicy } from '@nats-io/jetstream';
import { Bus, provision } from '@switchboard/bus';
import {
  COMMAND_TARGETS,
  STREAMS,
  decodeCommand,
  makeEvent,
  newId,
  type Command,
  type CommandTarget,
  type EventTypeName,
} from '@switchboard/contracts';
import { createLogger } from '@switchboard/telemetry';

export interface Recorded {
  target: CommandTarget;
  seq: number;
  command: Command;
}

export class CommandRecorder {
  readonly all: Recorded[] = [];
  #stops: Array<() => Promise<void>> = [];

  static async start(bus: Bus): Promise<CommandRecorder> {
    const r = new CommandRecorder();
    for (const target of COMMAND_TARGETS) {
      const c = await bus.js.consumers.get(STREAMS.cmd[target], { deliver_policy: DeliverPolicy.All });
      const msgs = await c.consume({
        callback: (m) => {
          r.all.push({ target, seq: m.seq, command: decodeCommand(m.data) });
        },
      });
      r.#stops.push(async () => void (await msgs.close()));
    }
    return r;
  }

  of(sessionId: string): Recorded[] {
    return this.all.filter((r) => r.command.sessionId === sessionId);
  }

  async stop(): Promise<void> {
    for (const s of this.#stops) await s();
  }
}

export async function producerBus(url: string, partitions = 16): Promise<Bus> {
  const bus = await Bus.connect({ servers: url, service: 'test-producer', log: createLogger({ service: 'test-producer', level: 'warn' }), partitions });
  await provision(bus.nc, bus.jsm, { leaseTtlMs: 1000 });
  return bus;
}

/** Publish an event as a service would (fresh event id unless given). */
export function emit<T extends EventTypeName>(bus: Bus, type: T, sessionId: string, payload: Record<string, unknown>, opts: { correlationId?: string; eventId?: string } = {}) {
  return bus.publishEvent(
    makeEvent(type, { sessionId, source: 'test', eventId: opts.eventId ?? newId('evt'), correlationId: opts.correlationId ?? '' }, payload as never),
  );
}

export function orchestratorEnv(url: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NATS_URL: url,
    HTTP_PORT: '0',
    GRPC_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    PARTITIONS: '16',
    LEASE_TTL_MS: '1000',
    LOG_LEVEL: 'info',
    NO_INPUT_MS: '600000',
    FILLER_AFTER_MS: '600000',
    TURN_TIMEOUT_MS: '600000',
    ...extra,
  };
}
