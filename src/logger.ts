/**
 * Logging: pino JSON lines on stdout (docs/reference.md).
 *
 * Two loggers share one destination: `log` honours --log-level; `always` is
 * pinned at info for the lines docs/reference.md ("Logs") says are printed whatever the level (the
 * start-up lines) and for the access log the user asked for explicitly.
 * Writes are asynchronous (sonic-boom) so logging never blocks the event loop
 * on a slow stdout; flush() is called before exit.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export interface Loggers {
  readonly log: Logger;
  readonly always: Logger;
  /** Write out everything buffered, in order; await it before process.exit. */
  flush(): Promise<void>;
}

export function createLoggers(level: string, dest?: DestinationStream): Loggers {
  const boom = dest ? null : pino.destination({ dest: 1, sync: false });
  const stream: DestinationStream = dest ?? boom!;
  const log = pino({ level, base: { pid: process.pid } }, stream);
  const always = pino({ level: 'info', base: { pid: process.pid } }, stream);
  return {
    log,
    always,
    flush() {
      if (!boom) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2000); // stdout gone or stuck: do not hang the exit
        try {
          boom.flush(() => {
            clearTimeout(t);
            resolve();
          });
        } catch {
          clearTimeout(t);
          resolve();
        }
      });
    },
  };
}

type WarnLog = { warn(o: object, msg: string): void };

/** One warning message at most once per `intervalMs`, with the count of the ones held back. */
export class RateLimitedWarning {
  private readonly msg: string;
  private readonly intervalMs: number;
  private loggedAt = -Infinity;
  private suppressed = 0;

  constructor(msg: string, intervalMs = 1000) {
    this.msg = msg;
    this.intervalMs = intervalMs;
  }

  /** Log `fields` (plus `suppressed`) now, or count the event when one was logged less than the interval ago. */
  note(log: WarnLog, fields: Record<string, unknown>): void {
    const now = Date.now();
    if (now - this.loggedAt < this.intervalMs) {
      this.suppressed++;
      return;
    }
    log.warn({ ...fields, suppressed: this.suppressed }, this.msg);
    this.loggedAt = now;
    this.suppressed = 0;
  }
}
