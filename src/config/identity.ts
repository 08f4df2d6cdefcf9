/**
 * `--user NAME` / `--group NAME`: the user and group names (or numeric ids)
 * looked up in the system's user database, without changing anything. The
 * switch itself is src/privileges.ts; this file only answers "who is that?"
 * so that a bad name is a usage error (exit 2) before anything is bound.
 *
 * Lookups go through `getent` (the name service switch: /etc/passwd, and
 * LDAP, systemd's dynamic users and the like where configured) and fall back
 * to reading /etc/passwd and /etc/group where `getent` is not installed.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Who lb4 becomes once its listeners are bound. */
export interface Identity {
  /** The user's name when it has a passwd entry (its supplementary groups come from it); null for a bare uid. */
  readonly userName: string | null;
  /** The uid to switch to; null with --group alone (the user stays). */
  readonly uid: number | null;
  /** The group's name when it has an entry, else null. */
  readonly groupName: string | null;
  /** The gid to switch to: --group, else the user's primary group. */
  readonly gid: number;
}

interface Entry {
  readonly name: string;
  readonly id: number;
  /** passwd only: the primary gid. */
  readonly gid: number;
}

const NUMERIC = /^\d+$/;

function parseLine(line: string, db: 'passwd' | 'group'): Entry | null {
  const f = line.split(':');
  if (f.length < (db === 'passwd' ? 4 : 3)) return null;
  const id = Number(f[2]);
  const gid = db === 'passwd' ? Number(f[3]) : id;
  if (!Number.isInteger(id) || !Number.isInteger(gid)) return null;
  return { name: f[0]!, id, gid };
}

/** One passwd or group entry by name or numeric id; null when there is none. */
function lookup(db: 'passwd' | 'group', key: string): Entry | null {
  const r = spawnSync('getent', [db, key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
  if (!r.error && r.status === 0) return parseLine(r.stdout.split('\n')[0] ?? '', db);
  // getent exits 2 for "no such key": a real answer; only a missing getent falls back to the files
  if (!r.error) return null;
  let text: string;
  try {
    text = readFileSync(`/etc/${db}`, 'utf8');
  } catch {
    return null;
  }
  const byId = NUMERIC.test(key);
  for (const line of text.split('\n')) {
    const e = parseLine(line, db);
    if (e && (byId ? e.id === Number(key) : e.name === key)) return e;
  }
  return null;
}

/**
 * Resolve --user and --group (either may be null; both null → null).
 * Throws an Error naming the flag when a name does not exist.
 */
export function resolveIdentity(user: string | null, group: string | null): Identity | null {
  if (user === null && group === null) return null;
  let userName: string | null = null;
  let uid: number | null = null;
  let primaryGid: number | null = null;
  if (user !== null) {
    const e = lookup('passwd', user);
    if (e) {
      userName = e.name;
      uid = e.id;
      primaryGid = e.gid;
    } else if (NUMERIC.test(user)) {
      uid = Number(user);
    } else {
      throw new Error(`--user: no user named "${user}" on this system`);
    }
  }
  let groupName: string | null = null;
  let gid: number;
  if (group !== null) {
    const e = lookup('group', group);
    if (e) {
      groupName = e.name;
      gid = e.id;
    } else if (NUMERIC.test(group)) {
      gid = Number(group);
    } else {
      throw new Error(`--group: no group named "${group}" on this system`);
    }
  } else if (primaryGid !== null) {
    gid = primaryGid;
    groupName = lookup('group', String(primaryGid))?.name ?? null;
  } else {
    throw new Error(`--user: uid ${user} has no passwd entry, so it has no group of its own: give --group too`);
  }
  return { userName, uid, groupName, gid };
}

/** A user or group as given: a name (letters, digits, `._-`, `@`, a trailing `$`) or a numeric id. */
export function parseAccountName(value: string, where: string): string {
  const s = value.trim();
  if (!/^[A-Za-z0-9_.][A-Za-z0-9_.@-]{0,255}\$?$/.test(s)) throw new Error(`${where}: invalid name "${value}"`);
  return s;
}
