/**
 * Addresses as lb4 prints and compares them. Pure string work (no node:net),
 * so that core stays free of I/O modules.
 */

export interface HostPort {
  /** Host name or IP literal, without brackets. */
  host: string;
  port: number;
}

/**
 * `HOST:PORT`, with IPv6 literals bracketed (`[::1]:80`). A host that
 * contains a colon can only be an IPv6 literal: names never do.
 */
export function formatHostPort(host: string, port: number): string {
  return host.indexOf(':') >= 0 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Strip the IPv4-mapped prefix Node reports on dual-stack sockets (`::ffff:1.2.3.4` → `1.2.3.4`). */
export function normalizeIp(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.indexOf('.') > 0 ? address.slice(7) : address;
}
