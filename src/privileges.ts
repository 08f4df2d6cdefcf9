/**
 * `--user` / `--group`: lb4 starts as root, binds every listener (and the
 * admin listener, and reads its certificates), then becomes the given user
 * and group for good, like nginx's and HAProxy's `user`/`group`.
 *
 * Order matters: supplementary groups first (initgroups from the user's
 * entry, or just the group), then the group, then the user; once the uid is
 * not 0 none of the others can change any more. setgid()/setuid() called as
 * root set the real, effective and saved ids alike, so root cannot come back;
 * that is checked (a setuid(0) that succeeds afterwards is an error).
 *
 * What still needs the old rights afterwards does not get them: a SIGHUP
 * re-reads --config and the certificate files as the new user (they must be
 * readable by it), and a --workers worker restarted after a crash is forked
 * by the already switched primary (the listening sockets it shares were
 * bound before the switch). See the README, "Deploying".
 */
import type { Identity } from './config/identity.js';

/** What the process runs as after a switch. */
export interface RunningAs {
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
}

function isAlready(id: Identity): boolean {
  return (id.uid === null || (process.getuid!() === id.uid && process.geteuid!() === id.uid)) && process.getgid!() === id.gid && process.getegid!() === id.gid;
}

function describe(id: Identity): string {
  const parts: string[] = [];
  if (id.uid !== null) parts.push(`user ${id.userName ?? id.uid} (uid ${id.uid})`);
  parts.push(`group ${id.groupName ?? id.gid} (gid ${id.gid})`);
  return parts.join(' and ');
}

/**
 * Null when the switch can be made (lb4 runs as root, or already as that
 * user and group: a worker forked by a switched primary); else why not, as
 * one line naming the flag.
 */
export function cannotSwitch(id: Identity): string | null {
  if (process.platform === 'win32' || typeof process.setuid !== 'function') return `--user/--group: not supported on ${process.platform}`;
  if (process.geteuid!() === 0 || isAlready(id)) return null;
  const flag = id.uid !== null ? '--user' : '--group';
  return `${flag}: switching to ${describe(id)} needs root (lb4 runs as uid ${process.geteuid!()}, gid ${process.getegid!()})`;
}

/** Become `id` for good; throws when the switch fails or could be undone. */
export function switchIdentity(id: Identity): RunningAs {
  if (process.geteuid!() === 0) {
    // the user's supplementary groups from the group database (as login(1)
    // and nginx do), plus the group; a bare uid or --group alone gets only it
    const initgroups = (process as { initgroups?: (user: string, extraGroup: number) => void }).initgroups;
    if (id.userName !== null && id.uid !== null && typeof initgroups === 'function') initgroups(id.userName, id.gid);
    else process.setgroups!([id.gid]);
    process.setgid!(id.gid);
    if (id.uid !== null) process.setuid!(id.uid);
    if (id.uid !== null && id.uid !== 0) {
      let regained = false;
      try {
        process.setuid!(0);
        regained = true;
      } catch {
        // EPERM: as it must be
      }
      if (regained) throw new Error(`switched to uid ${id.uid}, but setuid(0) still succeeds`);
    }
  }
  if (!isAlready(id)) throw new Error(`running as uid ${process.geteuid!()} gid ${process.getegid!()}, not as ${describe(id)}`);
  return { uid: process.geteuid!(), gid: process.getegid!(), groups: process.getgroups!() };
}

/** The fields of the `running as` log line. */
export function runningAsFields(id: Identity, r: RunningAs): Record<string, unknown> {
  return { user: id.userName, uid: r.uid, group: id.groupName, gid: r.gid, groups: r.groups };
}
