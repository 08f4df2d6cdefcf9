/**
 * Membership through one path (src/stream/pools.ts): setSource() replaces
 * what one source contributes to a pool; apply() (a reload) goes through
 * it too and leaves discovery sources alone; leavers drain and are
 * forgotten after their last connection; the name-conflict rule; the
 * --workers primary's mirror mode.
 */
import t from 'tap';
import pino from 'pino';
import { PoolSet } from '../../src/stream/pools.js';
import { buildConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import type { BackendSpec } from '../../src/config/parse.js';
import type { Backend } from '../../src/core/backend.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Line = Record<string, any>;

function harness(cli: Record<string, unknown>, opts: { mirror?: boolean } = {}) {
  const lines: Line[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
  let config: Config = buildConfig({ cli, env: {} })!;
  let memberships = 0;
  const set = new PoolSet(() => config, log, { mirror: opts.mirror, onMembership: () => memberships++ });
  return {
    set,
    lines,
    msgs: (msg: string) => lines.filter((l) => l.msg === msg),
    get memberships() {
      return memberships;
    },
    reload(next: Record<string, unknown>) {
      config = buildConfig({ cli: next, env: {} })!;
      set.apply(config);
      set.rebuildAll();
    },
  };
}

const spec = (ip: string, port = 80, weight = 1, extra: Partial<BackendSpec> = {}): BackendSpec => ({ host: ip, port, name: `${ip}:${port}`, weight, ...extra });
const names = (list: readonly Backend[]): string[] => list.map((b) => b.name).sort();
const eligible = (set: PoolSet, pool = 'default'): string[] => names(set.byName.get(pool)!.eligible);

t.test('setSource: joiners, leavers (drained, then forgotten), weights in place', async (t) => {
  const h = harness({ backends: ['127.0.0.1:1,name=static', 'dns:web.test:80'] });
  const { set } = h;
  t.same(names(set.backends()), ['static'], 'the source has found nothing yet');
  t.equal(h.msgs('backend added').length, 0, 'the starting backends are not logged');

  t.equal(set.setSource('default', 'dns:web.test:80', [spec('10.0.0.1'), spec('10.0.0.2')]), true);
  t.same(eligible(set), ['10.0.0.1:80', '10.0.0.2:80', 'static']);
  t.same(h.msgs('backend added').map((l) => [l.backend, l.source, l.pool, l.address]), [
    ['10.0.0.1:80', 'dns:web.test:80', 'default', '10.0.0.1:80'],
    ['10.0.0.2:80', 'dns:web.test:80', 'default', '10.0.0.2:80'],
  ]);
  t.equal(set.find('10.0.0.1:80')!.source, 'dns:web.test:80');
  t.equal(set.find('static')!.source, 'config');
  t.ok(h.memberships > 0, 'the health checker is told');

  // one connection open on 10.0.0.2 while it leaves
  const pool = set.byName.get('default')!;
  const busy = set.find('10.0.0.2:80')!;
  busy.active = 1;
  const one = set.find('10.0.0.1:80')!;
  set.setSource('default', 'dns:web.test:80', [spec('10.0.0.1', 80, 7), spec('10.0.0.3')]);
  t.equal(set.find('10.0.0.1:80'), one, 'a stayer is the same object');
  t.equal(one.configWeight, 7, 'its weight changed in place');
  t.same(h.msgs('backend removed').map((l) => [l.backend, l.source, l.active]), [['10.0.0.2:80', 'dns:web.test:80', 1]]);
  t.equal(busy.state, 'draining', 'the leaver drains');
  t.ok(pool.backends.includes(busy), 'and stays while it carries a connection');
  t.same(eligible(set), ['10.0.0.1:80', '10.0.0.3:80', 'static'], 'no new traffic for it');
  set.release(pool, busy);
  t.notOk(pool.backends.includes(busy), 'forgotten after its last connection');

  // an empty list withdraws the source
  set.setSource('default', 'dns:web.test:80', []);
  t.same(names(set.backends()), ['static']);
  t.equal(set.setSource('nope', 'dns:x:1', [spec('10.0.0.9')]), false, 'unknown pool: refused');
});

t.test('a new address under the same name is a leave plus a join', async (t) => {
  const h = harness({ backends: ['srv:_a._tcp.test'] });
  h.set.setSource('default', 'srv:_a._tcp.test', [{ host: '10.0.0.1', port: 80, name: 'a.test:80', weight: 1, priority: 0 }]);
  const first = h.set.find('a.test:80')!;
  first.active = 1;
  h.set.setSource('default', 'srv:_a._tcp.test', [{ host: '10.0.0.9', port: 80, name: 'a.test:80', weight: 1, priority: 0 }]);
  const second = h.set.find('a.test:80')!;
  t.not(second, first);
  t.equal(second.address, '10.0.0.9:80');
  t.equal(first.state, 'draining');
  t.same(eligible(h.set), ['a.test:80']);
  t.equal(h.set.byName.get('default')!.eligible[0], second);
});

t.test('a reload leaves discovery sources alone, withdraws those no longer listed, ends api additions', async (t) => {
  const h = harness({ backends: ['127.0.0.1:1,name=static', 'dns:web.test:80', 'srv:_b._tcp.test'] });
  const { set } = h;
  set.setSource('default', 'dns:web.test:80', [spec('10.0.0.1')]);
  set.setSource('default', 'srv:_b._tcp.test', [spec('10.0.1.1')]);
  set.setSource('default', 'api', [spec('10.0.2.1')]);
  t.same(eligible(set), ['10.0.0.1:80', '10.0.1.1:80', '10.0.2.1:80', 'static']);
  const removedBefore = h.msgs('backend removed').length;

  h.reload({ backends: ['127.0.0.1:1,name=static', '127.0.0.1:2,name=other', 'dns:web.test:80'] });
  t.same(eligible(set), ['10.0.0.1:80', 'other', 'static'], 'dns: kept, srv: withdrawn, api ended, other joined');
  t.same(
    h.msgs('backend removed').slice(removedBefore).map((l) => [l.backend, l.source]).sort(),
    [['10.0.1.1:80', 'srv:_b._tcp.test'], ['10.0.2.1:80', 'api']],
  );
  t.same(set.sources().map((s) => s.source), ['dns:web.test:80'], 'what a new worker would be sent');
  t.equal(h.msgs('backend added').filter((l) => l.backend === '10.0.0.1:80').length, 1, 'the kept backend was not re-added');
});

t.test('name conflicts: the first source in rank keeps the name, logged once; the other takes over when it is let go', async (t) => {
  const h = harness({ backends: ['10.0.0.1:80', 'dns:web.test:80', 'dns:alt.test:80'] });
  const { set } = h;
  // the later source in the config reports first: rank, not arrival, decides
  set.setSource('default', 'dns:alt.test:80', [spec('10.0.0.2'), spec('10.0.0.3')]);
  set.setSource('default', 'dns:web.test:80', [spec('10.0.0.1'), spec('10.0.0.2')]);
  t.equal(set.find('10.0.0.1:80')!.source, 'config', 'config beats a discovery source');
  t.equal(set.find('10.0.0.2:80')!.source, 'dns:web.test:80', 'the source listed first beats the one listed later');
  t.equal(set.backends().filter((b) => b.name === '10.0.0.2:80').length, 1, 'one backend per name');
  const conflicts = h.msgs('backend name conflict');
  t.same(
    conflicts.map((l) => [l.backend, l.source, l.owner]).sort(),
    [['10.0.0.1:80', 'dns:web.test:80', 'config'], ['10.0.0.2:80', 'dns:alt.test:80', 'dns:web.test:80']],
  );
  set.setSource('default', 'dns:web.test:80', [spec('10.0.0.1'), spec('10.0.0.2')]);
  t.equal(h.msgs('backend name conflict').length, 2, 'logged once, not on every answer');
  set.setSource('default', 'dns:web.test:80', []);
  t.equal(set.find('10.0.0.2:80')!.source, 'dns:alt.test:80', 'the other source takes the name over');
  t.equal(set.find('10.0.0.1:80')!.source, 'config');
});

t.test('names are unique across pools: the pool listed first keeps a name', async (t) => {
  const dir = t.testdir({
    'lb4.yaml': ['pools:', '  one:', '    backends: ["dns:a.test:80"]', '  two:', '    backends: ["dns:b.test:80"]', ''].join('\n'),
  });
  const h = harness({ config: `${dir}/lb4.yaml` });
  h.set.setSource('two', 'dns:b.test:80', [spec('10.0.0.1')]);
  h.set.setSource('one', 'dns:a.test:80', [spec('10.0.0.1')]);
  t.same(eligible(h.set, 'one'), ['10.0.0.1:80']);
  t.same(eligible(h.set, 'two'), [], 'moved to the first pool');
  t.equal(h.msgs('backend name conflict')[0]!.owner_pool, 'one');
});

t.test('mirror (the --workers primary): a leaver stays until sweep() finds it idle', async (t) => {
  const h = harness({ backends: ['dns:web.test:80'] }, { mirror: true });
  h.set.setSource('default', 'dns:web.test:80', [spec('10.0.0.1'), spec('10.0.0.2')]);
  h.set.setSource('default', 'dns:web.test:80', [spec('10.0.0.1')]);
  const leaver = h.set.backends().find((b) => b.name === '10.0.0.2:80');
  t.ok(leaver, 'kept although no connection is counted here');
  t.equal(leaver!.state, 'draining');
  leaver!.active = 2; // the workers' sum
  t.equal(h.set.sweep(), false);
  leaver!.active = 0;
  t.equal(h.set.sweep(), true);
  t.same(names(h.set.backends()), ['10.0.0.1:80']);
});

t.test('SRV priorities and weights change in place', async (t) => {
  const h = harness({ backends: ['srv:_a._tcp.test'], strategy: 'wrr' });
  const s = (name: string, weight: number, priority: number) => ({ host: '10.0.0.1', port: 80, name, weight, priority });
  h.set.setSource('default', 'srv:_a._tcp.test', [s('a.test:80', 5, 1), s('b.test:80', 1, 2)]);
  t.same(eligible(h.set), ['a.test:80']);
  const b = h.set.find('b.test:80')!;
  h.set.setSource('default', 'srv:_a._tcp.test', [s('a.test:80', 5, 3), s('b.test:80', 9, 2)]);
  t.equal(h.set.find('b.test:80'), b, 'same object');
  t.equal(b.configWeight, 9);
  t.same(eligible(h.set), ['b.test:80'], 'b now has the lowest priority');
  t.equal(h.msgs('backend removed').length, 0, 'nothing left');
});
