// @switchboard/bus — the JetStream layer every service uses.
export { Bus, HEADERS, describeMsg, dlqReasonFor, type BusOptions, type PublishOptions, type DeadLetterInput, type DlqReason } from './bus';
export { consume, subscribeOrdered, replicaConsumerName, type ConsumeOptions, type ConsumerHandle, type HandlerContext, type OrderedSubscription } from './consume';
export { HeldDelivery, type HeldDeliveryOptions } from './working';
export { LoopGapWatch } from './loop-gaps';
export { BusError, PermanentError, DeliveryLost, isRetryable, errorCode, inPlaceRetryDelayMs } from './errors';
export { PublishPipeline } from './publish-pipeline';
export { KeyedExecutor, type KeyedExecutorStats } from './keyed-executor';
export { PartitionLeases, type PartitionLeasesOptions, type LeaseCallbacks } from './leases';
export {
  provision,
  ensureStream,
  ensureConsumer,
  ensureBucket,
  streamConfigs,
  bucketConfigs,
  durableConsumer,
  fanOutConsumer,
  isNotFound,
  isElecting,
  whileElecting,
  type TopologyOptions,
  type ProvisionOptions,
  type ProvisionReport,
} from './topology';
export { AliasRegistry, AliasError, ALIAS_NAMESPACES, type AliasNamespace } from './aliases';
