/**
 * Least connections: the backend with the fewest active connections relative
 * to its weight (SPEC section 4); ties go round robin, i.e. among equals the
 * one picked least recently wins (first in configured order after a build).
 *
 * Loads are compared exactly, without floats: a is less loaded than b when
 * active_a * weight_b < active_b * weight_a. So active 2 at weight 2 ties
 * with active 1 at weight 1.
 *
 * `BackendView.active` is live: the pool changes it and then calls
 * update(index). The picker keeps an indexed binary min-heap (typed arrays:
 * heap position -> backend, backend -> heap position) ordered by
 * (load ratio, last-picked sequence). update() and the pick itself (which
 * stamps the chosen backend as most recently picked) sift one entry, so
 * both are O(log n); nothing is scanned.
 *
 * Alternatives (attempt k >= 1) walk the heap array, skipping the first
 * choice: attempt 1 returns heap position 0 (or 1 when the first choice is
 * still on top), then the next positions in order. Heap order is not sorted
 * order, but the positions near the top hold the less loaded backends, and
 * while nothing changes in between, attempts 0..n-1 visit all n backends.
 */
import type { BackendView, Picker, PickerFactory } from './picker.js';

class LeastConnectionsPicker implements Picker {
  private readonly backends: readonly BackendView[];
  private readonly n: number;
  private readonly weight: Float64Array;
  /** heap[p] = backend index at heap position p. */
  private readonly heap: Int32Array;
  /** pos[i] = heap position of backend i. */
  private readonly pos: Int32Array;
  /** When each backend was last picked (larger = more recent). */
  private readonly seq: Float64Array;
  private counter: number;
  private first: number;

  constructor(backends: readonly BackendView[]) {
    const n = backends.length;
    this.backends = backends;
    this.n = n;
    this.weight = new Float64Array(n);
    this.heap = new Int32Array(n);
    this.pos = new Int32Array(n);
    this.seq = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const w = backends[i]!.weight;
      this.weight[i] = w >= 1 ? w : 1;
      this.heap[i] = i;
      this.pos[i] = i;
      // Never picked yet: configured order decides among equals.
      this.seq[i] = i - n;
    }
    this.counter = 0;
    this.first = 0;
    for (let p = (n >> 1) - 1; p >= 0; p--) this.siftDown(p);
  }

  /**
   * attempt 0: the least loaded backend (least recently picked among equals),
   * which is then stamped as picked; attempt k >= 1: other backends from the
   * heap array. `key` is not read. O(log n), no allocation.
   */
  pick(_key: number, attempt: number): number {
    const n = this.n;
    if (n === 0) return -1;
    if (attempt <= 0) {
      const top = this.heap[0]!;
      this.seq[top] = ++this.counter;
      this.siftDown(0);
      this.first = top;
      return top;
    }
    const a = attempt % n;
    if (a === 0) return this.first;
    const skip = this.pos[this.first]!;
    return this.heap[a - 1 < skip ? a - 1 : a]!;
  }

  /** The live `active` count of backend `index` changed: restore heap order. O(log n). */
  update(index: number): void {
    if (index < 0 || index >= this.n) return;
    const p = this.pos[index]!;
    if (this.siftUp(p) === p) this.siftDown(p);
  }

  /** Is backend a ahead of backend b: less loaded, or equal and picked less recently? */
  private before(a: number, b: number): boolean {
    const l = this.backends[a]!.active * this.weight[b]!;
    const r = this.backends[b]!.active * this.weight[a]!;
    if (l !== r) return l < r;
    return this.seq[a]! < this.seq[b]!;
  }

  private siftUp(p: number): number {
    const { heap, pos } = this;
    const x = heap[p]!;
    while (p > 0) {
      const parent = (p - 1) >> 1;
      const y = heap[parent]!;
      if (!this.before(x, y)) break;
      heap[p] = y;
      pos[y] = p;
      p = parent;
    }
    heap[p] = x;
    pos[x] = p;
    return p;
  }

  private siftDown(p: number): void {
    const { heap, pos, n } = this;
    const x = heap[p]!;
    for (;;) {
      let c = 2 * p + 1;
      if (c >= n) break;
      if (c + 1 < n && this.before(heap[c + 1]!, heap[c]!)) c++;
      const y = heap[c]!;
      if (!this.before(y, x)) break;
      heap[p] = y;
      pos[y] = p;
      p = c;
    }
    heap[p] = x;
    pos[x] = p;
  }
}

/**
 * `least-connections` (`least_conn`, `leastconnections`, `lc`): fewest active
 * connections relative to weight, ties round robin. The picker implements
 * update(); the pool must call it after every change of a backend's `active`.
 */
export const leastConnections: PickerFactory = {
  name: 'least-connections',
  aliases: ['least_conn', 'leastconnections', 'lc'],
  needs: 'none',
  build(backends: readonly BackendView[], _random: () => number): Picker {
    return new LeastConnectionsPicker(backends);
  },
};
