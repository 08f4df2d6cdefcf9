/**
 * deploy/lb4.service (README "Deploying", "systemd"): `systemd-analyze
 * verify` finds nothing to say about it (a copy whose /usr/local/bin/lb4 is
 * this checkout's bin/lb4, since verify wants the binaries to exist), it
 * holds the hardening and lifecycle settings the README promises, and the
 * example config it points at passes `lb4 check`.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLb4, LB4_BIN } from '../../helpers/lb4.js';
import { tempDir } from '../../helpers/ops.js';

const UNIT = fileURLToPath(new URL('../../../deploy/lb4.service', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../../deploy/lb4.yaml', import.meta.url));
const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const skip = analyze.status !== 0 ? 'systemd-analyze is not installed (Debian: apt-get install systemd)' : false;

/** Every `Key=value` of the unit, values of repeated keys in order. */
function directives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('[')) continue;
    const eq = line.indexOf('=');
    const k = line.slice(0, eq);
    out.set(k, [...(out.get(k) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

t.test('systemd-analyze verify: no errors, no warnings', { skip }, async (t) => {
  const text = readFileSync(UNIT, 'utf8');
  t.match(text, /^ExecStart=\/usr\/local\/bin\/lb4 --config \/etc\/lb4\/lb4\.yaml$/m);
  const dir = tempDir(t);
  const copy = join(dir, 'lb4.service');
  writeFileSync(copy, text.replaceAll('/usr/local/bin/lb4', LB4_BIN));
  const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, 'exit 0');
  t.equal(`${r.stdout}${r.stderr}`.trim(), '', 'nothing reported');

  const sec = spawnSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', copy], { encoding: 'utf8', timeout: 60_000 });
  const m = /Overall exposure level for lb4\.service: ([\d.]+)/.exec(`${sec.stdout}${sec.stderr}`);
  if (m) t.ok(Number(m[1]) < 3, `systemd-analyze security: exposure ${m[1]} (below 3)`);
  else t.comment(`systemd-analyze security --offline not available: ${sec.stderr.trim().split('\n')[0]}`);
});

t.test('the unit: no root, capabilities, sandbox, reload, drain', async (t) => {
  const d = directives(readFileSync(UNIT, 'utf8'));
  const one = (k: string): string | undefined => d.get(k)?.at(-1);
  t.equal(one('DynamicUser'), 'yes', 'a dynamic user, no root');
  t.equal(one('AmbientCapabilities'), 'CAP_NET_BIND_SERVICE', 'may bind ports below 1024');
  t.equal(one('CapabilityBoundingSet'), 'CAP_NET_BIND_SERVICE', 'and nothing else');
  for (const k of ['NoNewPrivileges', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'RestrictSUIDSGID']) t.equal(one(k), 'yes', k);
  t.equal(one('ProtectSystem'), 'strict');
  t.notOk(d.has('MemoryDenyWriteExecute'), 'no MemoryDenyWriteExecute (V8 needs W+X pages)');
  t.same(d.get('ExecReload'), ['/usr/local/bin/lb4 check --config /etc/lb4/lb4.yaml', '/bin/kill -HUP $MAINPID'], 'reload: check, then SIGHUP');
  t.equal(one('Restart'), 'on-failure');
  t.equal(one('KillSignal'), 'SIGTERM');
  t.ok(Number(one('LimitNOFILE')) >= 65536, 'LimitNOFILE');
  t.ok(Number(one('TimeoutStopSec')) > 30 + 5, 'TimeoutStopSec above the default drain timeout (30 s) and the workers margin (5 s)');
  t.equal(one('EnvironmentFile'), '-/etc/lb4/lb4.env');

  const r = await runLb4(['check', '--config', EXAMPLE]);
  t.equal(r.code, 0, `deploy/lb4.yaml passes lb4 check: ${r.stderr}`);
  t.equal(r.stdout, 'config ok\n');
});
