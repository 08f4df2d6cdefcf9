/**
 * File descriptors as a budget (README "Out of file descriptors").
 *
 * Every client costs lb4 about two descriptors (its own socket and the
 * backend's; one while its TLS handshake runs). Left alone, a burst of
 * clients takes the last descriptor, and then everything that needs one
 * fails at once: backend connects (EMFILE, which must not be blamed on the
 * backend), health checks, and the admin server's accept, so the operator
 * cannot even look. So, like HAProxy deriving maxconn from `ulimit -n`, lb4
 * reads its descriptor limit once it has started (after anything that
 * raised it) and derives a ceiling on client connections that leaves a
 * reserve: a client beyond it is closed at once (end `max-conns`), like one
 * beyond --max-conns.
 *
 *   max clients = (limit - descriptors open at start - reserve) / 2
 *   reserve     = 64 + one per backend (its health check)
 *
 * The ceiling is an estimate (L7 idle keep-alive connections to backends
 * are not counted), so running out can still happen: the listener then
 * pauses (src/l4/listener.ts) and connects fail without blaming anyone
 * (src/core/errors.ts). Every such event, and every client turned away at
 * the ceiling, goes through one rate-limited warning,
 * `"msg":"out of file descriptors"`: at most one a second, with the number
 * of events not logged in between (`suppressed`).
 *
 * Linux: the limit comes from /proc/self/limits and the open count from
 * /proc/self/fd. Where they cannot be read there is no ceiling.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Descriptors kept free beyond the clients: admin connections, config and certificate reads, DNS, the relay's dup()s. */
export const RESERVED_DESCRIPTORS = 64;
/** Descriptors one client holds once connected: its own and the backend's. */
const PER_CLIENT = 2;

/** The soft RLIMIT_NOFILE of this process, or 0 when unknown or unlimited. */
export function descriptorLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m === null || m[1] === 'unlimited') return 0;
    return Number(m[1]);
  } catch {
    return 0;
  }
}

/** Descriptors open in this process right now, or -1 when unknown. O(open descriptors): not for the hot path. */
export function openDescriptors(): number {
  try {
    // readdir opens one itself while it reads
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return -1;
  }
}

export class DescriptorBudget {
  /** The soft descriptor limit when measured, 0 when unknown. */
  limit = 0;
  /** Client connections allowed at once by the limit; 0 = no ceiling. */
  maxClients = 0;

  /**
   * Read the limit and what is open now (once every listener is bound), and
   * derive the ceiling; `backends` health checks are reserved for.
   */
  measure(backends: number): void {
    const limit = descriptorLimit();
    const open = openDescriptors();
    this.limit = limit;
    if (limit <= 0 || open < 0) {
      this.maxClients = 0;
      return;
    }
    this.maxClients = Math.max(1, Math.floor((limit - open - RESERVED_DESCRIPTORS - backends) / PER_CLIENT));
  }

  /**
   * May one more client come in, with `clients` connected (two descriptors
   * each) and `handshakes` accepted but still in their TLS handshake (one
   * each)? No allocation.
   */
  admits(clients: number, handshakes: number): boolean {
    const max = this.maxClients;
    return max === 0 || PER_CLIENT * (clients + 1) + handshakes <= PER_CLIENT * max;
  }
}
