/**
 * Least-connections (src/core/pickers/least-connections.ts) against a plain
 * O(n) scan written here: the same pick on every attempt-0 pick, over random
 * sequences of picks, takes, drops, jumps and no-op updates, with equal and
 * with unequal weights, at several sizes. The picker's ring (equal loads
 * rotated as a list) and heap must never make a difference, and alternatives
 * must cover all n backends in any n consecutive attempts, whatever state the
 * two parts are in (including a picked heap top that is not settled yet).
 */
import t, { type Test } from 'tap';
import { leastConnections } from '../../src/core/pickers/index.js';
import type { Picker } from '../../src/core/pickers/picker.js';
import { prng, noRandom } from '../helpers/random.js';

interface TestBackend {
  name: string;
  weight: number;
  active: number;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function build(bs: readonly TestBackend[]): Picker {
  return leastConnections.build(bs, noRandom);
}

/**
 * The contract, spelled out: least active/weight by cross-multiplication,
 * ties to the least recently picked, never-picked ones in configured order.
 */
class Reference {
  private readonly last: number[];
  private seq = 0;
  constructor(private readonly bs: readonly TestBackend[]) {
    this.last = bs.map((_, i) => i - bs.length);
  }
  pick(): number {
    const bs = this.bs;
    const w = (i: number): number => (bs[i]!.weight >= 1 ? bs[i]!.weight : 1);
    let best = 0;
    for (let i = 1; i < bs.length; i++) {
      const l = bs[i]!.active * w(best);
      const r = bs[best]!.active * w(i);
      if (l < r || (l === r && this.last[i]! < this.last[best]!)) best = i;
    }
    this.last[best] = ++this.seq;
    return best;
  }
}

/** Do attempts from..from+n-1 (from >= 1: no new pick) return all n backends? */
function covers(p: Picker, n: number, from: number): boolean {
  const seen = new Set<number>();
  for (let a = from; a < from + n; a++) {
    const i = p.pick(0, a);
    if (!(i >= 0 && i < n)) return false;
    seen.add(i);
  }
  return seen.size === n;
}

interface Mix {
  /** Probability of an attempt-0 pick per step (the rest: updates). */
  pick: number;
  /** After a pick, probability that the pool takes a connection on it. */
  take: number;
}

/**
 * Run `steps` random operations on a picker and the reference over the same
 * backends; returns the number of attempt-0 picks that differ, and fails the
 * test on any alternatives run that misses a backend.
 */
function differential(
  t: Test,
  n: number,
  weightOf: (i: number, rnd: () => number) => number,
  seed: number,
  steps: number,
  mix: Mix,
): { bad: number; picks: number[] } {
  const rnd = prng(seed);
  const bs: TestBackend[] = range(n).map((i) => ({ name: `b${i}`, weight: weightOf(i, rnd), active: Math.floor(rnd() * 3) }));
  const p = build(bs);
  const ref = new Reference(bs);
  const picks: number[] = [];
  let bad = 0;
  let coverFails = 0;
  for (let step = 0; step < steps; step++) {
    const u = rnd();
    if (u < mix.pick) {
      const want = ref.pick();
      const got = p.pick(0, 0);
      picks.push(got);
      if (got !== want) bad++;
      const v = rnd();
      if (v < 0.15) {
        // Alternatives right after the pick (no take yet): attempts 1..n give
        // all n, attempt n being the first choice again.
        if (p.pick(0, n) !== got) coverFails++;
        if (!covers(p, n, 1)) coverFails++;
      } else if (v < 0.2) {
        // Any n consecutive attempt numbers, as the pool's retries use.
        if (!covers(p, n, 1 + Math.floor(rnd() * 3 * n))) coverFails++;
      }
      if (rnd() < mix.take) {
        bs[got]!.active++;
        p.update!(got);
      }
    } else {
      const i = Math.floor(rnd() * n);
      const b = bs[i]!;
      const v = rnd();
      if (v < 0.6) {
        if (b.active > 0) {
          b.active--;
          p.update!(i);
        }
      } else if (v < 0.75) {
        b.active++;
        p.update!(i);
      } else if (v < 0.85) {
        b.active = Math.floor(rnd() * 6);
        p.update!(i);
      } else if (v < 0.95) {
        p.update!(i); // no change
      } else {
        p.update!(-1); // ignored
        p.update!(n);
      }
    }
  }
  if (coverFails > 0) t.fail(`alternatives missed backends ${coverFails} times`);
  return { bad, picks };
}

const equalWeights = (): number => 1;
const variedWeights = (_i: number, rnd: () => number): number => 1 + Math.floor(rnd() * 10);

t.test('matches an O(n) scan: random picks, takes, drops, jumps', async (t) => {
  const mixes: Mix[] = [
    { pick: 0.5, take: 0.9 }, // the pool: most picks take a connection
    { pick: 0.8, take: 0.2 }, // many picks without a take: ties rotate
    { pick: 0.3, take: 1 }, // many drops and jumps
  ];
  for (const n of [1, 2, 3, 17, 1000]) {
    const steps = n === 1000 ? 20_000 : 6000;
    for (const [wname, weightOf] of [
      ['equal weights', equalWeights],
      ['weights 1..10', variedWeights],
    ] as const) {
      for (let m = 0; m < mixes.length; m++) {
        const { bad } = differential(t, n, weightOf, 1000 * n + 10 * m + (wname === 'equal weights' ? 1 : 2), steps, mixes[m]!);
        t.equal(bad, 0, `n=${n}, ${wname}, mix ${m}`);
      }
    }
  }
});

t.test('equal weights: the scale of the weights changes nothing', async (t) => {
  for (const n of [2, 3, 17, 1000]) {
    const a = differential(t, n, () => 1, 42 + n, 8000, { pick: 0.6, take: 0.8 });
    const b = differential(t, n, () => 7, 42 + n, 8000, { pick: 0.6, take: 0.8 });
    t.equal(a.bad + b.bad, 0, `n=${n}: both match the scan`);
    t.same(a.picks, b.picks, `n=${n}: weight 1 everywhere and weight 7 everywhere pick alike`);
  }
});

t.test('ties only: picks rotate in configured order, at any size', async (t) => {
  for (const n of [1, 2, 3, 17, 1000]) {
    const bs: TestBackend[] = range(n).map((i) => ({ name: `b${i}`, weight: 1 + (i % 4), active: 0 }));
    const p = build(bs);
    const got: number[] = [];
    for (let i = 0; i < 3 * n; i++) got.push(p.pick(0, 0));
    t.same(got, [...range(n), ...range(n), ...range(n)], `n=${n}`);
  }
});

t.test('ties among the least loaded rotate; the others wait', async (t) => {
  // Loads (active/weight): 1/1, 0, 2/2, 0, 3/1, 0 -> the three at 0 rotate.
  const bs: TestBackend[] = [
    { name: 'a', weight: 1, active: 1 },
    { name: 'b', weight: 1, active: 0 },
    { name: 'c', weight: 2, active: 2 },
    { name: 'd', weight: 5, active: 0 },
    { name: 'e', weight: 1, active: 3 },
    { name: 'f', weight: 3, active: 0 },
  ];
  const p = build(bs);
  const got: number[] = [];
  for (let i = 0; i < 7; i++) got.push(p.pick(0, 0));
  t.same(got, [1, 3, 5, 1, 3, 5, 1]);
  // a falls to 0 and joins the tie; never picked, it is the least recently
  // picked.
  bs[0]!.active = 0;
  p.update!(0);
  got.length = 0;
  for (let i = 0; i < 5; i++) got.push(p.pick(0, 0));
  t.same(got, [0, 3, 5, 1, 0]);
  // One of the rotating ones gets a connection: it leaves the tie.
  bs[3]!.active = 1;
  p.update!(3);
  got.length = 0;
  for (let i = 0; i < 4; i++) got.push(p.pick(0, 0));
  t.same(got, [5, 1, 0, 5]);
  // The three at 0 get loads of 1/1, 1/1, 3/3: d (1/5) is alone at the least.
  for (const i of [0, 1, 5]) {
    bs[i]!.active = bs[i]!.weight;
    p.update!(i);
  }
  t.same([p.pick(0, 0), p.pick(0, 0)], [3, 3]);
});

t.test('updates between a pick and the take, and right after it', async (t) => {
  const bs: TestBackend[] = range(5).map((i) => ({ name: `b${i}`, weight: 1, active: 0 }));
  const p = build(bs);
  t.equal(p.pick(0, 0), 0);
  // Before the pool takes 0, another backend's count changes.
  bs[3]!.active = 2;
  p.update!(3);
  bs[0]!.active = 1;
  p.update!(0);
  t.same([p.pick(0, 0), p.pick(0, 0), p.pick(0, 0), p.pick(0, 0)], [1, 2, 4, 1]);
  bs[4]!.active = 3;
  p.update!(4);
  t.equal(p.pick(0, 0), 2);
  p.update!(2); // no change: nothing moves
  bs[1]!.active = 5;
  p.update!(1);
  t.same([p.pick(0, 0), p.pick(0, 0), p.pick(0, 0)], [2, 2, 2], '2 alone at 0');
  bs[2]!.active = 1;
  p.update!(2);
  t.same([p.pick(0, 0), p.pick(0, 0), p.pick(0, 0)], [0, 2, 0], '0 and 2 at 1: 0 was picked longer ago');

  // A picked backend whose count goes down right after the pick.
  const cs: TestBackend[] = [2, 1, 3].map((active, i) => ({ name: `c${i}`, weight: 1, active }));
  const q = build(cs);
  t.equal(q.pick(0, 0), 1);
  cs[1]!.active = 0;
  q.update!(1);
  t.same([q.pick(0, 0), q.pick(0, 0)], [1, 1]);
  cs[0]!.active = 0;
  q.update!(0);
  t.same([q.pick(0, 0), q.pick(0, 0), q.pick(0, 0)], [0, 1, 0], 'never-picked 0 first among equals');
});

t.test('alternatives: the first choice at attempt n, all n in any n attempts', async (t) => {
  const rnd = prng(5);
  for (const n of [1, 2, 3, 17, 100]) {
    const bs: TestBackend[] = range(n).map((i) => ({ name: `b${i}`, weight: 1 + (i % 3), active: Math.floor(rnd() * 3) }));
    const p = build(bs);
    for (let round = 0; round < 3 * n + 5; round++) {
      const first = p.pick(0, 0);
      t.equal(p.pick(0, n), first, `n=${n}: attempt n is the first choice`);
      t.equal(p.pick(0, 2 * n), first, `n=${n}: so is attempt 2n`);
      if (n > 1) t.not(p.pick(0, 1), first, `n=${n}: attempt 1 is not the first choice`);
      if (!covers(p, n, 1)) t.fail(`n=${n}, round ${round}: attempts 1..n miss a backend`);
      if (!covers(p, n, 2 * n + 3)) t.fail(`n=${n}, round ${round}: attempts 2n+3..3n+2 miss a backend`);
      if (round % 3 === 0) {
        bs[first]!.active++;
        p.update!(first);
      }
    }
  }
});
