/**
 * isTls13Session (src/l4/tls-server.ts): TLS 1.3 sessions (tickets) are kept
 * out of the session-ID cache; TLS 1.2 ones go in. Real DER headers of
 * OpenSSL SSL_SESSION encodings, short and long length forms.
 */
import t from 'tap';
import { isTls13Session } from '../../src/l4/tls-server.js';

const h = (s: string) => Buffer.from(s.padEnd(40, '0'), 'hex');

t.test('isTls13Session', async (t) => {
  t.equal(isTls13Session(h('30819e02010102020304040213020420')), true, 'TLS 1.3, one-byte long length');
  t.equal(isTls13Session(h('308201a002010102020304040213020420')), true, 'TLS 1.3, two-byte long length');
  t.equal(isTls13Session(h('305a02010102020304040213020420')), true, 'TLS 1.3, short length');
  t.equal(isTls13Session(h('30819e02010102020303040213020420')), false, 'TLS 1.2');
  t.equal(isTls13Session(h('30819e02010102020302040213020420')), false, 'TLS 1.1');
  t.equal(isTls13Session(Buffer.from('3003020101', 'hex')), false, 'too short');
  t.equal(isTls13Session(h('31819e02010102020304040213020420')), false, 'not a SEQUENCE');
});
