/**
 * A FIFO of waiting clients with O(1) push, shift and removal from the
 * middle (a client that gives up or times out leaves its place). Intrusive:
 * the waiting object carries its own links, so queueing allocates nothing.
 */

export interface Queued {
  qPrev: Queued | null;
  qNext: Queued | null;
  /** True while in a queue. */
  queued: boolean;
}

export class WaitQueue<T extends Queued> {
  private head: T | null = null;
  private tail: T | null = null;
  length = 0;

  push(item: T): void {
    item.qPrev = this.tail;
    item.qNext = null;
    if (this.tail) this.tail.qNext = item;
    else this.head = item;
    this.tail = item;
    item.queued = true;
    this.length++;
  }

  /** The client waiting longest, left in place. */
  get first(): T | null {
    return this.head;
  }

  shift(): T | null {
    const item = this.head;
    if (item) this.remove(item);
    return item;
  }

  remove(item: T): void {
    if (!item.queued) return;
    if (item.qPrev) item.qPrev.qNext = item.qNext;
    else this.head = item.qNext as T | null;
    if (item.qNext) item.qNext.qPrev = item.qPrev;
    else this.tail = item.qPrev as T | null;
    item.qPrev = item.qNext = null;
    item.queued = false;
    this.length--;
  }
}
