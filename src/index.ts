/**
 * lb4 as a library (README "Using lb4 as a library"): build a Config, run a
 * Balancer in this process, read its stats, reload it, shut it down.
 *
 *     import { configFrom, createBalancer } from 'lb4';
 *     const lb = createBalancer(configFrom({ listen: '127.0.0.1:0', backends: ['127.0.0.1:8081'] }));
 *     await lb.start();
 *
 * Nothing here is process-wide: two balancers in one process share nothing
 * (custom strategies are given to each balancer).
 */
import { Balancer, type BalancerOptions } from './balancer.js';
import type { Config } from './config/types.js';

export { Balancer } from './balancer.js';
export type { BalancerOptions } from './balancer.js';
export type { BackendStatsJson, StatsDocument } from './admin/stats.js';
export { configFrom } from './config/options.js';
export type { LbOptions, BackendOption, HealthCheckOption, DurationOption, ConfigFromExtras } from './config/options.js';
export { buildConfig, describeConfig, readConfigFile } from './config/load.js';
export type { ConfigSources } from './config/load.js';
export type { Config } from './config/types.js';
export type { PickerFactory, Picker, BackendView } from './core/pickers/index.js';
export { strategyNames } from './core/pickers/index.js';
export { LbError, UsageError, ListenError } from './core/errors.js';
export { createLoggers } from './logger.js';
export type { Loggers } from './logger.js';

/**
 * Create (not start) a balancer for a validated config. `opts.strategies`
 * adds custom strategies to this balancer only (build the config with the
 * same list). Throws UsageError when the config names a strategy it does
 * not know.
 */
export function createBalancer(config: Config, opts?: BalancerOptions): Balancer {
  return new Balancer(config, opts);
}
