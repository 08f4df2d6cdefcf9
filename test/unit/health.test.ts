/**
 * The pure health state machines of src/core/health.ts (README "Health and failover"):
 * rise/fall hysteresis of the active checks, and the passive circuit breaker
 * (maxFails → open → half-open after the fail timeout → one trial decides,
 * with the timeout doubling on failed trials up to CIRCUIT_MAX_TIMEOUT_MS).
 * Time is a plain number passed in: no timers.
 */
import t from 'tap';
import { CheckState, Circuit, CIRCUIT_MAX_TIMEOUT_MS } from '../../src/core/health.js';

/** Feed a sequence of results ('+' ok, '-' failed); returns the state after each, as 'U'/'D'. */
function run(c: CheckState, seq: string, rise: number, fall: number): { states: string; changes: number[] } {
  let states = '';
  const changes: number[] = [];
  [...seq].forEach((ch, i) => {
    if (c.record(ch === '+', rise, fall)) changes.push(i);
    states += c.up ? 'U' : 'D';
  });
  return { states, changes };
}

t.test('CheckState: starts up, with no result yet', async (t) => {
  const c = new CheckState();
  t.equal(c.up, true);
  t.equal(c.streak, 0);
  t.equal(c.lastResult, null);
});

t.test('CheckState: fall=3 needs three consecutive failures', async (t) => {
  const c = new CheckState();
  const r = run(c, '--+--+---', 2, 3);
  t.equal(r.states, 'UUUUUUUUD', 'an ok check resets the failure streak');
  t.same(r.changes, [8], 'record() returns true exactly at the transition');
  t.equal(c.streak, 0, 'streak reset after a transition');
});

t.test('CheckState: rise=2 needs two consecutive good checks', async (t) => {
  const c = new CheckState();
  run(c, '---', 2, 3);
  t.equal(c.up, false);
  const r = run(c, '+-+-++', 2, 3);
  t.equal(r.states, 'DDDDDU', 'a failure resets the good streak');
  t.same(r.changes, [5]);
});

t.test('CheckState: results agreeing with the state do nothing', async (t) => {
  const c = new CheckState();
  const r = run(c, '++++++', 2, 3);
  t.equal(r.states, 'UUUUUU');
  t.same(r.changes, []);
  t.equal(c.streak, 0);
});

t.test('CheckState: rise=1 / fall=1 flip on every change of result', async (t) => {
  const c = new CheckState();
  const r = run(c, '-+-++--+', 1, 1);
  t.equal(r.states, 'DUDUUDDU');
  t.same(r.changes, [0, 1, 2, 3, 5, 7]);
});

t.test('CheckState: full cycle up → down → up with rise 2 fall 2', async (t) => {
  const c = new CheckState();
  const r = run(c, '+-+--+-+++-', 2, 2);
  // U: '-' streak1, '+' reset, '--' down at index 4; D: '+' 1, '-' reset, '++' up at index 8; U: '+', '-' 1
  t.equal(r.states, 'UUUUDDDDUUU');
  t.same(r.changes, [4, 8]);
});

t.test('CheckState.reset forces a state and clears the streak', async (t) => {
  const c = new CheckState();
  c.record(false, 2, 3);
  t.equal(c.streak, 1);
  c.reset(true);
  t.equal(c.up, true);
  t.equal(c.streak, 0);
  c.reset(false);
  t.equal(c.up, false);
});

t.test('Circuit: maxFails consecutive failures open it', async (t) => {
  const c = new Circuit();
  t.equal(c.state, 'closed');
  t.equal(c.onFailure(1000, 3, 500), false);
  t.equal(c.onFailure(1001, 3, 500), false);
  t.equal(c.fails, 2);
  t.equal(c.onFailure(1002, 3, 500), true, 'third failure opens');
  t.equal(c.state, 'open');
  t.equal(c.openUntil, 1502, 'open for failTimeout from the opening failure');
  t.equal(c.timeoutMs, 500);
  t.equal(c.onFailure(1003, 3, 500), false, 'failures while open change nothing');
  t.equal(c.openUntil, 1502);
});

t.test('Circuit: a success between failures resets the count', async (t) => {
  const c = new Circuit();
  c.onFailure(0, 3, 500);
  c.onFailure(0, 3, 500);
  t.equal(c.onSuccess(), false, 'success on a closed circuit is no state change');
  t.equal(c.fails, 0);
  t.equal(c.onFailure(0, 3, 500), false);
  t.equal(c.onFailure(0, 3, 500), false);
  t.equal(c.state, 'closed');
  t.equal(c.onFailure(0, 3, 500), true);
});

t.test('Circuit: maxFails 0 never opens', async (t) => {
  const c = new Circuit();
  for (let i = 0; i < 100; i++) t.equal(c.onFailure(i, 0, 500), false);
  t.equal(c.state, 'closed');
});

t.test('Circuit: maxFails 1 opens on the first failure', async (t) => {
  const c = new Circuit();
  t.equal(c.onFailure(10, 1, 100), true);
  t.equal(c.state, 'open');
});

t.test('Circuit: fail timeout → half-open via tick(now)', async (t) => {
  const c = new Circuit();
  c.onFailure(1000, 1, 500);
  t.equal(c.tick(1000), false);
  t.equal(c.tick(1499), false, 'not before openUntil');
  t.equal(c.state, 'open');
  t.equal(c.tick(1500), true, 'at openUntil');
  t.equal(c.state, 'half-open');
  t.equal(c.trialInFlight, false, 'the trial slot is free');
  t.equal(c.tick(5000), false, 'tick on half-open is no change');
  t.equal(new Circuit().tick(1e12), false, 'tick on closed is no change');
});

t.test('Circuit: trial success closes', async (t) => {
  const c = new Circuit();
  c.onFailure(0, 2, 500);
  c.onFailure(0, 2, 500);
  c.tick(500);
  c.trialInFlight = true; // the pool reserved the trial
  t.equal(c.onSuccess(), true);
  t.equal(c.state, 'closed');
  t.equal(c.trialInFlight, false);
  t.equal(c.fails, 0);
  t.equal(c.timeoutMs, 0, 'backoff forgotten');
  // and it takes maxFails fresh failures to open again, with the base timeout
  t.equal(c.onFailure(1000, 2, 500), false);
  t.equal(c.onFailure(1000, 2, 500), true);
  t.equal(c.openUntil, 1500);
});

t.test('Circuit: trial failure reopens with the timeout doubled, capped', async (t) => {
  const c = new Circuit();
  let now = 0;
  c.onFailure(now, 1, 60_000);
  const timeouts: number[] = [c.timeoutMs];
  for (let i = 0; i < 6; i++) {
    now = c.openUntil;
    t.equal(c.tick(now), true);
    c.trialInFlight = true;
    t.equal(c.onFailure(now, 1, 60_000), true, 'failed trial reopens (returns true)');
    t.equal(c.state, 'open');
    t.equal(c.trialInFlight, false);
    t.equal(c.openUntil, now + c.timeoutMs);
    timeouts.push(c.timeoutMs);
  }
  t.same(timeouts, [60_000, 120_000, 240_000, CIRCUIT_MAX_TIMEOUT_MS, CIRCUIT_MAX_TIMEOUT_MS, CIRCUIT_MAX_TIMEOUT_MS, CIRCUIT_MAX_TIMEOUT_MS]);
  t.equal(CIRCUIT_MAX_TIMEOUT_MS, 300_000);
});

t.test('Circuit: small timeouts double exactly: 500, 1000, 2000, 4000', async (t) => {
  const c = new Circuit();
  c.onFailure(0, 1, 500);
  const seen = [c.timeoutMs];
  for (let i = 0; i < 3; i++) {
    c.tick(c.openUntil);
    c.onFailure(c.openUntil, 1, 500);
    seen.push(c.timeoutMs);
  }
  t.same(seen, [500, 1000, 2000, 4000]);
});

t.test('Circuit: a fail timeout above the cap is kept, not shortened', async (t) => {
  const c = new Circuit();
  c.onFailure(0, 1, 600_000);
  c.tick(600_000);
  c.onFailure(600_000, 1, 600_000);
  t.equal(c.timeoutMs, 600_000);
});

t.test('Circuit.close(): an active check saw it up', async (t) => {
  const c = new Circuit();
  t.equal(c.close(), false, 'closed already');
  c.onFailure(0, 1, 500);
  t.equal(c.close(), true);
  t.equal(c.state, 'closed');
  t.equal(c.timeoutMs, 0);
  c.onFailure(0, 1, 500);
  c.tick(500);
  c.trialInFlight = true;
  t.equal(c.close(), true, 'closes a half-open one too');
  t.equal(c.trialInFlight, false);
});
