/**
 * Server configuration: one defaults object (from the options table, options.ts), merged with a
 * partial config. Values out of their option's range and contradictory options throw at
 * construction. Environment variables and flags are read only in `main.ts` (through cli.ts).
 */
import { defaultConfig, OPTIONS, type Option, type ServerConfig } from './options.ts'

export type { SqliteSynchronous } from '../store/index.ts'
export { defaultConfig, type ServerConfig, type StorageKind } from './options.ts'

/** Bytes a sync message adds around an update (type, sub-type, length varUints), rounded up. */
const FRAME_OVERHEAD = 1024

/** Merges `partial` over the defaults and validates the result; throws a TypeError on bad options. */
export function resolveConfig(partial: Partial<ServerConfig> = {}): ServerConfig {
  for (const key of Object.keys(partial)) {
    if (!(key in defaultConfig)) throw new TypeError(`unknown server option "${key}"`)
  }
  const config: ServerConfig = { ...defaultConfig, ...partial }
  if (partial.databaseUrl && partial.storage === undefined) config.storage = 'postgres'
  // Each value by its kind (the table's checks), then the rules between options.
  for (const [key, spec] of Object.entries(OPTIONS) as [keyof ServerConfig, Option<unknown>][]) {
    const value = config[key]
    const must = spec.check?.(value)
    // Numbers are shown; strings are not (they may be secrets).
    if (must)
      throw new TypeError(
        `option "${key}" must be ${must}${typeof value === 'number' ? `, got ${value}` : ''}`,
      )
  }
  if (partial.maxDocumentBytes !== undefined && partial.maxPayload === undefined) {
    config.maxPayload = config.maxDocumentBytes + FRAME_OVERHEAD
  }
  if (config.maxPayload < config.maxDocumentBytes + FRAME_OVERHEAD) {
    throw new TypeError(
      `option "maxPayload" (${config.maxPayload}) must be at least "maxDocumentBytes" + ${FRAME_OVERHEAD}: ` +
        'a smaller frame limit would strand offline work that fits the quota',
    )
  }
  if (partial.documentByteBurst === undefined) config.documentByteBurst = config.maxPayload
  if (config.documentByteBurst < config.maxPayload) {
    throw new TypeError(
      `option "documentByteBurst" (${config.documentByteBurst}) must be at least "maxPayload" ` +
        `(${config.maxPayload}): a smaller burst would refuse every frame of that size`,
    )
  }
  if (config.maxLinkTtlSeconds < config.defaultLinkTtlSeconds) {
    throw new TypeError('option "maxLinkTtlSeconds" must be >= "defaultLinkTtlSeconds"')
  }
  if (config.requestTimeoutMs < config.headersTimeoutMs) {
    throw new TypeError('option "requestTimeoutMs" must be >= "headersTimeoutMs"')
  }
  if (config.maxAwarenessMessageBytes < config.maxAwarenessStateBytes) {
    throw new TypeError('option "maxAwarenessMessageBytes" must be >= "maxAwarenessStateBytes"')
  }
  if (partial.maxHttpConnectionsPerIp === undefined) {
    config.maxHttpConnectionsPerIp = Math.min(config.maxHttpConnectionsPerIp, config.maxHttpConnections)
  }
  if (config.maxHttpConnectionsPerIp > config.maxHttpConnections) {
    throw new TypeError('option "maxHttpConnectionsPerIp" must be <= "maxHttpConnections"')
  }
  if (config.monitorPort !== null && config.monitorPort !== 0 && config.monitorPort === config.port) {
    throw new TypeError(
      'options "monitorPort" and "port" must differ: monitoring is kept off the public port',
    )
  }
  if (config.storeRetryMaxMs < config.storeRetryMinMs) {
    throw new TypeError('option "storeRetryMaxMs" must be >= "storeRetryMinMs"')
  }
  if (config.storage === 'postgres' && !config.databaseUrl) {
    throw new TypeError('option "storage: postgres" needs "databaseUrl"')
  }
  if (config.storage !== 'postgres' && config.databaseUrl) {
    throw new TypeError(`options "storage: ${config.storage}" and "databaseUrl" contradict each other`)
  }
  if (config.storage === 'postgres' && partial.db !== undefined) {
    throw new TypeError('options "databaseUrl" (PostgreSQL) and "db" (SQLite) contradict each other')
  }
  if (config.storage === 'memory' && partial.db !== undefined) {
    throw new TypeError('options "storage: memory" and "db" contradict each other')
  }
  if (partial.store && (partial.storage !== undefined || partial.db !== undefined || partial.databaseUrl)) {
    throw new TypeError('option "store" replaces "storage", "db" and "databaseUrl"; pass only one')
  }
  // Instances that fan out to each other must load rooms from one store, or a room opened on one
  // would lack what was written on another.
  if (config.redisUrl !== null && config.storage !== 'postgres' && !config.store) {
    throw new TypeError(
      `option "redisUrl" needs a store shared by every instance ("databaseUrl", PostgreSQL); storage is "${config.storage}"`,
    )
  }
  return config
}
