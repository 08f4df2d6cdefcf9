/**
 * Routing by client (config `clientRoutes:`, README "Routing by client"):
 * an ordered list of rules, each naming a pool and matching the client IP
 * by CIDR, by country or by continent (ISO codes, from a GeoIP database);
 * the first rule that matches wins, and a client that matches none goes on
 * to the usual routing (`sni:`, L7 `routes:`, the default pool). Both modes
 * ask the same matcher: L4 once per connection (after the PROXY header),
 * L7 once per request (after trusted X-Forwarded-For).
 *
 * Pure: the GeoIP lookup is injected (src/geo/geoip.ts reads the .mmdb
 * file). route() looks the client up at most once, and only when a geo
 * rule is reached; CIDR rules are matched without allocating.
 */
import { CidrSet } from './cidr.js';

/** One `clientRoutes:` entry: a pool and exactly one of cidr, country, continent. */
export interface ClientRouteRule {
  readonly pool: string;
  readonly cidr: readonly string[] | null;
  /** ISO 3166-1 alpha-2 codes, upper case. */
  readonly country: readonly string[] | null;
  /** Continent codes (AF AN AS EU NA OC SA). */
  readonly continent: readonly string[] | null;
}

/** Where a client IP is, as far as the GeoIP database knows. */
export interface GeoFacts {
  readonly country: string | null;
  readonly continent: string | null;
}

/** A GeoIP database. */
export interface GeoLookup {
  /** What the database knows of `ip`, or null (not found, private address, not an IP). */
  lookup(ip: string): GeoFacts | null;
}

/** What both modes call: the pool a client IP is routed to by `clientRoutes:`, or null for the usual routing. */
export interface ClientRouting {
  route(ip: string): string | null;
}

interface CompiledRule {
  readonly pool: string;
  readonly cidr: CidrSet | null;
  readonly country: ReadonlySet<string> | null;
  readonly continent: ReadonlySet<string> | null;
}

export class ClientRouter implements ClientRouting {
  private readonly rules: readonly CompiledRule[];
  private readonly geo: GeoLookup | null;

  /** Throws on a bad CIDR (config validation has checked them). `geo` is needed by country and continent rules. */
  constructor(rules: readonly ClientRouteRule[], geo: GeoLookup | null) {
    this.rules = rules.map((r) => ({
      pool: r.pool,
      cidr: r.cidr !== null ? new CidrSet(r.cidr) : null,
      country: r.country !== null ? new Set(r.country) : null,
      continent: r.continent !== null ? new Set(r.continent) : null,
    }));
    this.geo = geo;
  }

  /** True when there is at least one rule. */
  get active(): boolean {
    return this.rules.length > 0;
  }

  /** The pool of the first rule `ip` matches, or null. */
  route(ip: string): string | null {
    let facts: GeoFacts | null | undefined;
    for (const r of this.rules) {
      if (r.cidr !== null) {
        if (r.cidr.has(ip)) return r.pool;
        continue;
      }
      if (facts === undefined) facts = this.geo !== null ? this.geo.lookup(ip) : null;
      if (facts === null) continue;
      if (r.country !== null && facts.country !== null && r.country.has(facts.country)) return r.pool;
      if (r.continent !== null && facts.continent !== null && r.continent.has(facts.continent)) return r.pool;
    }
    return null;
  }
}
