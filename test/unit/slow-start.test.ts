/**
 * slowStartWeight / isRamping (src/core/slow-start.ts) with a fake clock:
 * about 10% at the start of the window, linear to full weight, never below 1,
 * no ramp at process start (upSince 0) or with the window off.
 */
import t from 'tap';
import { isRamping, slowStartWeight } from '../../src/core/slow-start.js';

const UP = 1_000_000;
const WIN = 2000;

t.test('ramp of a weight-100 backend', async (t) => {
  t.equal(slowStartWeight(100, UP, WIN, UP), 10, '10% when it just came up');
  const half = slowStartWeight(100, UP, WIN, UP + WIN / 2);
  t.ok(half >= 55 && half <= 56, `about 55% half way (${half})`);
  const q = slowStartWeight(100, UP, WIN, UP + WIN / 4);
  t.ok(q >= 32 && q <= 33, `about 32.5% a quarter in (${q})`);
  t.equal(slowStartWeight(100, UP, WIN, UP + WIN - 1), 100, 'just before the end (ceil)');
  t.equal(slowStartWeight(100, UP, WIN, UP + WIN), 100, 'full at the end');
  t.equal(slowStartWeight(100, UP, WIN, UP + 10 * WIN), 100, 'full after');
});

t.test('ramp is monotonic and integer', async (t) => {
  let prev = 0;
  for (let dt = 0; dt <= WIN; dt += 50) {
    const w = slowStartWeight(37, UP, WIN, UP + dt);
    t.ok(Number.isInteger(w), `integer at +${dt}`);
    t.ok(w >= prev, `non-decreasing at +${dt}`);
    t.ok(w >= 1 && w <= 37);
    prev = w;
  }
  t.equal(prev, 37);
});

t.test('never below 1', async (t) => {
  t.equal(slowStartWeight(1, UP, WIN, UP), 1);
  t.equal(slowStartWeight(3, UP, WIN, UP), 1);
  t.equal(slowStartWeight(1, UP, WIN, UP + 1), 1);
  t.equal(slowStartWeight(5, UP, WIN, UP - 100), 1, 'a clock that went backwards clamps to the start');
});

t.test('no ramp at process start or with the window off', async (t) => {
  t.equal(slowStartWeight(100, 0, WIN, UP), 100, 'upSince 0 = up since start');
  t.equal(slowStartWeight(100, UP, 0, UP), 100, 'window 0 = off');
  t.equal(slowStartWeight(0, UP, WIN, UP), 0, 'weight 0 stays 0');
  t.equal(slowStartWeight(0, 0, 0, UP), 0);
});

t.test('isRamping', async (t) => {
  t.equal(isRamping(UP, WIN, UP), true);
  t.equal(isRamping(UP, WIN, UP + WIN - 1), true);
  t.equal(isRamping(UP, WIN, UP + WIN), false);
  t.equal(isRamping(0, WIN, UP), false);
  t.equal(isRamping(UP, 0, UP), false);
});
