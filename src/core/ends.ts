/**
 * Why a client connection ended: the one vocabulary shared by the access log
 * (`"end"`), /stats (`connections.ends`), /metrics (`lb4_connection_ends_total`)
 * and the native relay (native/ends.h lists the first six in this order).
 * Every name is documented in docs/reference.md ("End reasons"); a unit test
 * checks that the list, the relay and the reference agree.
 */
export const END_REASONS = [
  'client-close',
  'backend-close',
  'client-error',
  'backend-error',
  'idle-timeout',
  'shutdown',
  'no-backend',
  'queue-timeout',
  'queue-full',
  'max-conns',
  'proxy-error',
  'tls-error',
  'client-limit',
] as const;

export type EndReason = (typeof END_REASONS)[number];

/** The ends a running exchange (tunnel, relay, HTTP exchange) reports: the first six. */
export type TunnelEnd = 'client-close' | 'backend-close' | 'client-error' | 'backend-error' | 'idle-timeout' | 'shutdown';

/** Index of each reason in END_REASONS (counters are arrays indexed by it). */
export const END_INDEX: Readonly<Record<EndReason, number>> = Object.freeze(
  Object.fromEntries(END_REASONS.map((r, i) => [r, i])) as Record<EndReason, number>,
);

/** A zeroed counter per end reason. */
export function endCounters(): Float64Array {
  return new Float64Array(END_REASONS.length);
}
