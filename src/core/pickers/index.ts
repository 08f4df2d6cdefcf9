/**
 * The registry of balancing strategies (README "Strategies"): every picker
 * factory, in the order help texts list them, and lookup by name or alias.
 */
import type { PickerFactory } from './picker.js';
import { roundRobin } from './round-robin.js';
import { random } from './random.js';
import { weightedRoundRobin } from './weighted-round-robin.js';
import { leastConnections } from './least-connections.js';
import { ipHash } from './ip-hash.js';
import { p2cEwma } from './p2c-ewma.js';

export type { BackendView, LatencyView, Picker, PickerFactory, PickerOptions, PoolLive } from './picker.js';
export { DEFAULT_PICKER_OPTIONS } from './picker.js';
export { roundRobin, random, weightedRoundRobin, leastConnections, ipHash, p2cEwma };

/** Every strategy: round-robin, random, weighted-round-robin, least-connections, ip-hash, p2c-ewma. */
export const pickerFactories: readonly PickerFactory[] = Object.freeze([
  roundRobin,
  random,
  weightedRoundRobin,
  leastConnections,
  ipHash,
  p2cEwma,
]);

const byName = new Map<string, PickerFactory>();
for (const f of pickerFactories) {
  byName.set(f.name, f);
  for (const alias of f.aliases) byName.set(alias, f);
}

/**
 * The factory whose canonical name or one of whose aliases is exactly
 * `nameOrAlias` (case-sensitive), or undefined. Used once, at config time.
 */
export function findPickerFactory(nameOrAlias: string): PickerFactory | undefined {
  return byName.get(nameOrAlias);
}

/**
 * Every accepted strategy name for help and error texts: each canonical
 * name followed by its aliases, in registry order
 * (`round-robin`, `round_robin`, `roundrobin`, `rr`, `random`, ...).
 */
export const strategyNames: readonly string[] = Object.freeze(
  pickerFactories.flatMap((f) => [f.name, ...f.aliases]),
);

/** Finds a strategy by canonical name or alias. */
export type StrategyLookup = (nameOrAlias: string) => PickerFactory | undefined;

/**
 * A lookup over the built-in strategies plus `custom` ones: the strategies
 * of one balancer (a library user's `createBalancer(config, { strategies })`).
 * Nothing is registered process-wide: two balancers in one process each see
 * the built-ins and their own. Throws when a custom name or alias is already
 * taken (by a built-in or another custom strategy), or is not a plain name.
 */
export function strategyLookup(custom: readonly PickerFactory[] = []): StrategyLookup {
  if (custom.length === 0) return findPickerFactory;
  const own = new Map(byName);
  for (const f of custom) {
    for (const name of [f.name, ...f.aliases]) {
      if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`strategy name "${name}" is not a plain name (A-Z a-z 0-9 . _ -)`);
      if (own.has(name)) throw new Error(`strategy name "${name}" is already taken${byName.has(name) ? ' by a built-in strategy' : ''}`);
      own.set(name, f);
    }
  }
  return (nameOrAlias) => own.get(nameOrAlias);
}

/** Every name a lookup knows, canonical names then aliases, built-ins first (for messages). */
export function knownStrategyNames(custom: readonly PickerFactory[] = []): readonly string[] {
  return custom.length === 0 ? strategyNames : [...strategyNames, ...custom.flatMap((f) => [f.name, ...f.aliases])];
}
