/**
 * lb4 as a library: build a Config (from flags/env/YAML sources, as the CLI
 * does) and run a Balancer in-process.
 */
import { Balancer, type BalancerOptions } from './balancer.js';
import type { Config } from './config/types.js';

export { Balancer } from './balancer.js';
export type { BalancerOptions } from './balancer.js';
export { buildConfig, describeConfig, readConfigFile } from './config/load.js';
export type { Config } from './config/types.js';
export { LbError, UsageError, ListenError } from './core/errors.js';

/** Create (not start) a balancer for a validated config. */
export function createBalancer(config: Config, opts?: BalancerOptions): Balancer {
  return new Balancer(config, opts);
}
