/**
 * `--watch-config`: call back when the config file changes, debounced, so
 * the CLI re-reads it exactly as on SIGHUP.
 *
 * The watch is on the file's *directory*, filtered by the file's name, not
 * on the file itself: editors (vim, sed -i, Kubernetes ConfigMap symlink
 * swaps, `mv tmp lb4.yaml`) replace the file by a rename, after which a
 * watch on the old inode would see nothing more. Several events arrive for
 * one save (truncate + write, rename + change), hence the debounce: the
 * callback runs once, `debounceMs` after the last event. The watcher and its
 * timer are unref'd (they never keep the process alive) and closed at
 * shutdown.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

export const WATCH_DEBOUNCE_MS = 250;

export class ConfigWatcher {
  readonly file: string;
  private readonly name: string;
  private readonly watcher: FSWatcher;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  /**
   * Start watching `file`; `onChange` runs once per burst of changes. Throws
   * (fs.watch's error) when the directory cannot be watched. `onError`
   * receives later watcher errors (the directory removed...).
   */
  constructor(file: string, onChange: () => void, onError: (err: Error) => void, debounceMs = WATCH_DEBOUNCE_MS) {
    this.file = resolve(file);
    this.name = basename(this.file);
    this.watcher = watch(dirname(this.file), { persistent: false }, (_event, filename) => {
      // filename may be null on some platforms: then every event counts
      if (this.closed || (filename !== null && filename.toString() !== this.name)) return;
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.timer = null;
        if (!this.closed) onChange();
      }, debounceMs);
      this.timer.unref();
    });
    this.watcher.on('error', onError);
    this.watcher.unref();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.watcher.close();
  }
}
