/**
 * Round robin: cycle over the backends in configured order, weights ignored
 * (README "Strategies"). Picks go 0, 1, 2, 0, 1, 2...
 *
 * Every pick, first choice or alternative, takes the next backend in the
 * cycle. So a connection that finds its backend full and asks again (attempt
 * 1, 2...) visits the following backends in turn and, with no other pick in
 * between, sees all n of them within n attempts; and the skipped backend's
 * turn goes to its successor only once, not for every later connection.
 * The cursor is the picker's only state; a rebuild continues after the
 * backend picked last (`startAfter`), or starts at index 0.
 */
import type { BackendView, Picker, PickerFactory } from './picker.js';

class RoundRobinPicker implements Picker {
  private readonly n: number;
  private cursor: number;

  constructor(n: number, start: number) {
    this.n = n;
    this.cursor = start;
  }

  /** Next index in the cycle; `key` and `attempt` are not read. O(1), no allocation. */
  pick(_key: number, _attempt: number): number {
    const n = this.n;
    if (n === 0) return -1;
    const i = this.cursor;
    this.cursor = i + 1 === n ? 0 : i + 1;
    return i;
  }
}

/**
 * `round-robin` (`round_robin`, `roundrobin`, `rr`): the next backend in
 * configured order on every pick. Needs nothing from the request.
 */
export const roundRobin: PickerFactory = {
  name: 'round-robin',
  aliases: ['round_robin', 'roundrobin', 'rr'],
  needs: 'none',
  build(backends: readonly BackendView[], _random: () => number, startAfter = -1): Picker {
    const n = backends.length;
    const start = startAfter >= 0 && startAfter < n ? (startAfter + 1) % n : 0;
    return new RoundRobinPicker(n, start);
  },
};
