/**
 * Test certificates: a throw-away CA and a server certificate signed by it,
 * generated with the `openssl` command (spawned directly, no shell) in a
 * fresh temporary directory.
 *
 * The server certificate covers DNS:localhost, IP:127.0.0.1, IP:::1 and any
 * extra names given, so Node TLS clients can verify it with
 * `{ ca: readFileSync(certs.ca), servername: 'localhost' }`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';

export interface TestCerts {
  /** the temporary directory holding every file */
  dir: string;
  /** server certificate (PEM) path */
  cert: string;
  /** server private key (PEM, PKCS#8) path */
  key: string;
  /** CA certificate (PEM) path: what clients trust */
  ca: string;
  /** removes `dir` and everything in it */
  cleanup(): void;
}

export interface MakeCertsOptions {
  /** extra subjectAltNames: IP addresses become IP SANs, anything else DNS SANs */
  names?: string[];
  /** common name of the server certificate; default `localhost` */
  commonName?: string;
}

/** Runs openssl with the given arguments; rejects with its stderr on failure. */
export function openssl(args: string[], cwd?: string, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`openssl ${args.join(' ')} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run openssl: ${e.message}`));
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`openssl ${args.join(' ')} exited ${code}: ${err.trim()}`));
    });
  });
}

/** subjectAltName value for localhost, 127.0.0.1, ::1 and `names`. */
export function subjectAltName(names: readonly string[] = []): string {
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const n of ['localhost', '127.0.0.1', '::1', ...names]) {
    if (n === '') continue;
    const entry = isIP(n) ? `IP:${n}` : `DNS:${n}`;
    if (seen.has(entry)) continue;
    seen.add(entry);
    parts.push(entry);
  }
  return parts.join(',');
}

/**
 * Generates a CA (EC P-256, self-signed, 1 day) and a server certificate
 * signed by it, in a new directory under os.tmpdir().
 */
export async function makeCerts(opts: MakeCertsOptions = {}): Promise<TestCerts> {
  const dir = mkdtempSync(join(tmpdir(), 'lb4-certs-'));
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  const p = (f: string): string => join(dir, f);
  try {
    writeFileSync(
      p('ca.cnf'),
      [
        '[req]',
        'distinguished_name = dn',
        'x509_extensions = ext',
        'prompt = no',
        '[dn]',
        'CN = lb4 test CA',
        '[ext]',
        'basicConstraints = critical, CA:TRUE',
        'keyUsage = critical, keyCertSign, cRLSign',
        'subjectKeyIdentifier = hash',
        '',
      ].join('\n'),
    );
    writeFileSync(
      p('server.ext'),
      [
        `subjectAltName = ${subjectAltName(opts.names)}`,
        'basicConstraints = critical, CA:FALSE',
        'keyUsage = critical, digitalSignature',
        'extendedKeyUsage = serverAuth',
        'authorityKeyIdentifier = keyid',
        '',
      ].join('\n'),
    );
    await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p('ca.key')]);
    await openssl(['req', '-new', '-x509', '-sha256', '-days', '2', '-config', p('ca.cnf'), '-key', p('ca.key'), '-out', p('ca.crt')]);
    await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p('server.key')]);
    await openssl([
      'req', '-new', '-sha256', '-key', p('server.key'),
      '-subj', `/CN=${opts.commonName ?? 'localhost'}`, '-out', p('server.csr'),
    ]);
    await openssl([
      'x509', '-req', '-sha256', '-days', '2', '-in', p('server.csr'),
      '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-set_serial', `0x${Date.now().toString(16)}`,
      '-extfile', p('server.ext'), '-out', p('server.crt'),
    ]);
  } catch (e) {
    cleanup();
    throw e;
  }
  return { dir, cert: p('server.crt'), key: p('server.key'), ca: p('ca.crt'), cleanup };
}
