/**
 * The settings of README "Strategies" (--hash-balance-factor) and
 * "Per-client limits" (--client-max-conns, --client-rate, --limit-store):
 * defaults, accepted values, the problems named for bad ones, and /config.
 */
import t from 'tap';
import { buildConfig, describeConfig } from '../../src/config/load.js';
import { UsageError } from '../../src/core/errors.js';

const B = '127.0.0.1:9001';

function build(cli: Record<string, unknown>, env: Record<string, string> = {}) {
  return buildConfig({ cli: { backends: [B], ...cli }, env })!;
}

function problem(cli: Record<string, unknown>, env: Record<string, string> = {}): string {
  try {
    build(cli, env);
  } catch (err) {
    if (err instanceof UsageError) return err.message;
    throw err;
  }
  return 'no problem';
}

t.test('defaults: every limit off', async (t) => {
  const c = build({});
  t.equal(c.hashBalanceFactor, 0);
  t.equal(c.clientMaxConns, 0);
  t.equal(c.clientRate, 0);
  t.equal(c.limitStore, null);
  t.equal(c.geoipDb, null);
  t.same(c.clientRoutes, []);
});

t.test('--hash-balance-factor: 0 or at least 100', async (t) => {
  t.equal(build({ hashBalanceFactor: '125' }).hashBalanceFactor, 125);
  t.equal(build({ hashBalanceFactor: '100' }).hashBalanceFactor, 100);
  t.equal(build({ hashBalanceFactor: '0' }).hashBalanceFactor, 0);
  t.match(problem({ hashBalanceFactor: '99' }), /--hash-balance-factor: must be 0 \(off\) or at least 100/);
  t.match(problem({ hashBalanceFactor: '1.5' }), /--hash-balance-factor: must be a whole number from 0 to 100000, not "1.5"/);
  t.match(problem({ hashBalanceFactor: '-1' }), /--hash-balance-factor/);
});

t.test('--client-max-conns and --client-rate: non-negative integers', async (t) => {
  const c = build({ clientMaxConns: '10', clientRate: '50' });
  t.equal(c.clientMaxConns, 10);
  t.equal(c.clientRate, 50);
  t.match(problem({ clientRate: 'fast' }), /--client-rate: must be a whole number ≥ 0, not "fast"/);
  t.match(problem({ clientMaxConns: '-3' }), /--client-max-conns/);
});

t.test('--limit-store: a redis:// URL, from the flag or LB_LIMIT_STORE; the password redacted in /config', async (t) => {
  t.equal(build({ limitStore: 'redis://10.0.0.9:6379' }).limitStore, 'redis://10.0.0.9:6379');
  t.equal(build({}, { LB_LIMIT_STORE: 'redis://cache.internal:6380/2' }).limitStore, 'redis://cache.internal:6380/2');
  t.equal(build({ limitStore: 'rediss://r.example:6380' }).limitStore, 'rediss://r.example:6380');
  t.match(problem({ limitStore: 'http://x:1' }), /--limit-store: "http:" is not a Redis URL/);
  t.match(problem({ limitStore: '10.0.0.9:6379' }), /--limit-store/);
  t.match(problem({ limitStore: 'redis://h:1/x' }), /--limit-store: the path must be a database number/);
  t.match(problem({}, { LB_LIMIT_STORE: 'nope' }), /LB_LIMIT_STORE: invalid URL "nope"/);
  const shown = describeConfig(build({ limitStore: 'redis://:s3cret@10.0.0.9:6379' }));
  t.equal(shown.limitStore, 'redis://:<redacted>@10.0.0.9:6379');
  t.notMatch(JSON.stringify(shown), /s3cret/);
});
