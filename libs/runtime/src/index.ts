// @switchboard/runtime — what every service's main.ts shares.
export { BaseConfigSchema, ConfigError, parseConfig, defaultReplicaId, type BaseConfig } from './config';
export { startService, runMain, type ServiceContext, type ServiceComponent, type ServiceDefinition, type RunningService, type StartOptions } from './service';
