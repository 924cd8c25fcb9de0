// @switchboard/testkit: real infrastructure for tests (nats-server, child services, ports, temp
// dirs), all cleaned up at process exit even when a test fails.
export { freePort, ephemeralPortRange, tempDir, canConnect, sleep } from './fs-net';
export { onExit } from './cleanup';
export { startNatsServer, startNatsCluster, NATS_SERVER_BIN } from './nats-server';
export type { NatsServerHandle, NatsServerOptions, NatsClusterHandle, NatsClusterOptions } from './nats-server';
export { spawnNode } from './spawn-node';
export type { ChildHandle, SpawnNodeOptions } from './spawn-node';
export { captureLogs, eventually, type LogCapture } from './capture';
export { exclusiveTestFile } from './exclusive';
