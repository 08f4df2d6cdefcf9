/**
 * The `--geoip-db FILE` reader (README "Routing by client"): a MaxMind DB
 * (.mmdb) file read whole into memory with the `maxmind` package (its
 * mmdb-lib decoder; no native code), answering country and continent codes
 * for `clientRoutes:` rules. Two record layouts are read:
 *
 * - MaxMind GeoLite2 / GeoIP2 Country and City: `country.iso_code` (else
 *   `registered_country.iso_code`, for addresses whose country of use is
 *   unknown) and `continent.code`;
 * - the flat layout of the free ip-location-db files: `country_code` (and
 *   `continent_code` when present).
 *
 * Where a record has a country but no continent, the continent comes from
 * the country (src/core/continents.ts). Lookups of anything that is not an
 * IP address, or not in the database, answer null.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { CountryResponse, Reader } from 'maxmind';
import { continentOf } from '../core/continents.js';
import type { GeoFacts, GeoLookup } from '../core/client-router.js';

/** Decoded records kept at most (see boundedCache). */
const RECORD_CACHE_SIZE = 10_000;

/** The fields of the records lb4 reads, in both layouts. */
interface GeoRecord {
  country?: { iso_code?: string };
  registered_country?: { iso_code?: string };
  continent?: { code?: string };
  country_code?: string;
  continent_code?: string;
}

export class GeoDb implements GeoLookup {
  readonly path: string;
  private readonly reader: Reader<CountryResponse>;

  private constructor(path: string, reader: Reader<CountryResponse>) {
    this.path = path;
    this.reader = reader;
  }

  /**
   * Read and check `path`. Throws an Error naming the file when it cannot
   * be read or is not a MaxMind DB.
   */
  static open(path: string): GeoDb {
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    let reader: Reader<CountryResponse>;
    try {
      // loaded only when a database is configured (start-up time)
      const mm = createRequire(import.meta.url)('maxmind') as typeof import('maxmind');
      reader = new mm.Reader<CountryResponse>(buf, { cache: boundedCache(RECORD_CACHE_SIZE) });
    } catch (err) {
      throw new Error(`${path} is not a MaxMind DB (.mmdb) file: ${(err as Error).message}`);
    }
    return new GeoDb(path, reader);
  }

  /** The database's type from its metadata (`GeoLite2-Country`, `ip-location-db`...). */
  get type(): string {
    return this.reader.metadata.databaseType;
  }

  lookup(ip: string): GeoFacts | null {
    let r: GeoRecord | null;
    try {
      // the flat layout is not one of the package's record types: read as plain fields
      r = this.reader.get(ip) as unknown as GeoRecord | null;
    } catch {
      return null; // not an IP address
    }
    if (r === null || typeof r !== 'object') return null;
    const country = upper(r.country?.iso_code ?? r.registered_country?.iso_code ?? r.country_code);
    const continent = upper(r.continent?.code ?? r.continent_code) ?? (country !== null ? continentOf(country) : null);
    if (country === null && continent === null) return null;
    return { country, continent };
  }
}

/**
 * Decoded records by their offset in the file, up to `max` of them: a
 * country database has a few hundred distinct records, so after warm-up a
 * lookup decodes nothing; a city database cannot grow it past `max`.
 * (The records are shared: never modified.)
 */
function boundedCache(max: number): { get(key: number): unknown; set(key: number, value: unknown): void } {
  const m = new Map<number, unknown>();
  return {
    get: (key) => m.get(key),
    set: (key, value) => {
      if (m.size < max) m.set(key, value);
    },
  };
}

function upper(s: string | undefined): string | null {
  return typeof s === 'string' && s.length > 0 ? s.toUpperCase() : null;
}
