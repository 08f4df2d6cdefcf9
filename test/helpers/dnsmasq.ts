/**
 * A real DNS server for the discovery tests: dnsmasq on 127.0.0.1 and a
 * free port, answering only for names under `.test` (NXDOMAIN for the
 * others there), with its config and files in a temporary directory.
 *
 * - A/AAAA records come from a hosts file (`setHosts`): dnsmasq re-reads it
 *   on SIGHUP, so records change without a restart.
 * - SRV and other records are config lines (`srv-host=`, `host-record=`...),
 *   which dnsmasq reads only at start: `restart({records})` restarts it on
 *   the same port.
 * - `ttl` is dnsmasq's `local-ttl`: the TTL of every answer it gives.
 * - `stop()` / `start()` take the server away and bring it back (queries to
 *   a closed UDP port fail at once: ICMP port unreachable).
 * - Every query is logged to a file (`queries()`).
 *
 * dnsmasq-base is installed by .ci/run; tests skip when it is missing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import dnsPacket from 'dns-packet';
import { freePort } from './tls-proxy.js';

export const DNSMASQ = ['/usr/sbin/dnsmasq', '/usr/bin/dnsmasq'].find((p) => existsSync(p)) ?? null;

export interface DnsmasqOptions {
  /** TTL of every answer (dnsmasq `local-ttl`), seconds; default 1. */
  ttl?: number;
  /** hosts-file lines: `IP NAME...` */
  hosts?: string[];
  /** extra config lines: `srv-host=_a._tcp.test,b1.test,8081,10,5`, `host-record=b1.test,127.0.0.1`... */
  records?: string[];
}

export interface Dnsmasq {
  readonly port: number;
  /** `127.0.0.1:PORT`, for --resolver */
  readonly address: string;
  readonly dir: string;
  /** Rewrite the hosts file and SIGHUP; resolves once dnsmasq has re-read it. */
  setHosts(lines: string[]): Promise<void>;
  /** Stop, then start with new settings (records, ttl; hosts unchanged unless given). */
  restart(opts?: DnsmasqOptions): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** The query log lines (`query[SRV] _a._tcp.test from 127.0.0.1`...). */
  queries(): string[];
  /** Ask it directly (UDP): rcode, answer count, truncation flag. */
  ask(name: string, type: 'A' | 'AAAA' | 'SRV'): Promise<{ rcode: number; answers: number; truncated: boolean }>;
}

const running = new Set<ChildProcess>();
let hooked = false;

export async function startDnsmasq(t: { teardown(fn: () => unknown): void }, opts: DnsmasqOptions = {}): Promise<Dnsmasq> {
  if (DNSMASQ === null) throw new Error('dnsmasq is not installed');
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const p of running) p.kill('SIGKILL');
    });
  }
  const dir = mkdtempSync(join(tmpdir(), 'lb4-dns-'));
  let port = await freePort();
  const hostsFile = join(dir, 'hosts');
  const logFile = join(dir, 'log');
  const confFile = join(dir, 'dnsmasq.conf');
  let settings: Required<DnsmasqOptions> = { ttl: opts.ttl ?? 1, hosts: opts.hosts ?? [], records: opts.records ?? [] };
  let proc: ChildProcess | null = null;
  let stderr = '';

  const writeConf = (): void => {
    writeFileSync(hostsFile, settings.hosts.map((l) => `${l}\n`).join(''));
    const root = process.getuid?.() === 0;
    writeFileSync(
      confFile,
      [
        `port=${port}`,
        'listen-address=127.0.0.1',
        'bind-interfaces',
        'no-resolv',
        'no-hosts',
        `addn-hosts=${hostsFile}`,
        'local=/test/',
        `local-ttl=${settings.ttl}`,
        'log-queries',
        `log-facility=${logFile}`,
        ...(root ? ['user=root', 'group=root'] : []),
        ...settings.records,
        '',
      ].join('\n'),
    );
  };

  const ask = (name: string, type: 'A' | 'AAAA' | 'SRV', timeoutMs = 500): Promise<{ rcode: number; answers: number; truncated: boolean }> =>
    new Promise((resolve, reject) => {
      const s = dgram.createSocket('udp4');
      const timer = setTimeout(() => {
        s.close();
        reject(new Error('no answer'));
      }, timeoutMs);
      s.on('error', (err) => {
        clearTimeout(timer);
        s.close();
        reject(err);
      });
      s.on('message', (msg) => {
        clearTimeout(timer);
        s.close();
        const p = dnsPacket.decode(msg);
        resolve({ rcode: msg.readUInt16BE(2) & 0xf, answers: p.answers?.length ?? 0, truncated: p.flag_tc });
      });
      s.connect(port, '127.0.0.1', () => s.send(dnsPacket.encode({ type: 'query', id: 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] })));
    });

  const reloads = (): number => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes(`read ${hostsFile}`)).length;
    } catch {
      return 0;
    }
  };

  const start = async (): Promise<void> => {
    writeConf();
    const p = spawn(DNSMASQ, ['--keep-in-foreground', `--conf-file=${confFile}`, '--pid-file'], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc = p;
    running.add(p);
    p.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.once('exit', () => running.delete(p));
    const deadline = Date.now() + 8000;
    for (;;) {
      if (p.exitCode !== null) throw new Error(`dnsmasq exited ${p.exitCode}: ${stderr}`);
      try {
        await ask('ready.test', 'A', 200);
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`dnsmasq did not answer on ${port}: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };

  const stop = async (): Promise<void> => {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 3000);
    await once(p, 'exit');
    clearTimeout(timer);
  };

  // the port was free for TCP; its UDP twin may not be: then another port
  for (let attempt = 0; ; attempt++) {
    try {
      await start();
      break;
    } catch (err) {
      await stop();
      if (attempt >= 4) throw err;
      port = await freePort();
    }
  }
  t.teardown(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  return {
    port,
    address: `127.0.0.1:${port}`,
    dir,
    async setHosts(lines) {
      settings = { ...settings, hosts: lines };
      const before = reloads();
      writeFileSync(hostsFile, lines.map((l) => `${l}\n`).join(''));
      if (!proc) return;
      proc.kill('SIGHUP');
      const deadline = Date.now() + 3000;
      while (reloads() <= before) {
        if (Date.now() > deadline) throw new Error('dnsmasq did not re-read its hosts file');
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async restart(next = {}) {
      await stop();
      settings = { ttl: next.ttl ?? settings.ttl, hosts: next.hosts ?? settings.hosts, records: next.records ?? settings.records };
      await start();
    },
    stop,
    start,
    queries() {
      try {
        return readFileSync(logFile, 'utf8').split('\n').filter((l) => / query\[/.test(l));
      } catch {
        return [];
      }
    },
    ask: (name, type) => ask(name, type),
  };
}
