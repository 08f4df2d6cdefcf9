/**
 * The client-routing service of one balancer: the `clientRoutes:` rules of
 * the running config (src/core/client-router.ts) over the `--geoip-db`
 * database (src/geo/geoip.ts). Streams reach it as ClientRouting
 * (StreamServices.clientRoutes); both modes call route(ip).
 *
 * A reload (SIGHUP) re-reads the database file, so a fresh download takes
 * effect without a restart, and rebuilds the rules. A database that fails
 * to load on reload is logged and the previous one stays in use.
 */
import type { Logger } from 'pino';
import { ClientRouter, type ClientRouting } from '../core/client-router.js';
import type { Config } from '../config/types.js';
import { GeoDb } from './geoip.js';

export class ClientRoutes implements ClientRouting {
  private router: ClientRouter;
  private geo: GeoDb | null = null;
  private readonly log: Logger;

  /** Throws when --geoip-db cannot be read (config validation checked it already). */
  constructor(c: Config, log: Logger) {
    this.log = log;
    if (c.geoipDb !== null) this.geo = GeoDb.open(c.geoipDb);
    this.router = new ClientRouter(c.clientRoutes, this.geo);
  }

  /** The pool `ip` is routed to by `clientRoutes:`, or null for the usual routing. */
  route(ip: string): string | null {
    return this.router.route(ip);
  }

  /** A reload: re-read --geoip-db and rebuild the rules. */
  apply(c: Config): void {
    if (c.geoipDb === null) {
      this.geo = null;
    } else {
      try {
        this.geo = GeoDb.open(c.geoipDb);
        this.log.info({ file: c.geoipDb, type: this.geo.type }, 'geoip database loaded');
      } catch (err) {
        this.log.error({ err: (err as Error).message, file: c.geoipDb }, 'geoip database reload failed; keeping the previous one');
      }
    }
    this.router = new ClientRouter(c.clientRoutes, this.geo);
  }
}
