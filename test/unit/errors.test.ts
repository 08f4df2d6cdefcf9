/**
 * src/core/errors.ts: the one place that decides whose fault a failed
 * connect is. lb4's own shortages (EMFILE, ENFILE, ENOBUFS, ENOMEM,
 * EADDRNOTAVAIL) are `internal` and not retryable; everything else is the
 * backend's and retryable on another one.
 */
import t from 'tap';
import { connectError, isLocalResourceErrno, isOutOfDescriptors } from '../../src/core/errors.js';

const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`connect ${code}`), { code });

t.test("lb4's own resource errors", async (t) => {
  for (const code of ['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'EADDRNOTAVAIL']) {
    const e = connectError(errno(code), false);
    t.equal(e.side, 'internal', `${code}: internal`);
    t.equal(e.retryable, false, `${code}: not retried on another backend`);
    t.equal(e.code, 'LB_ERR_LOCAL_RESOURCE');
    t.equal(e.errno, code);
    t.equal(e.message, `connect ${code}`);
    t.equal(isLocalResourceErrno(code), true);
  }
  t.equal(isOutOfDescriptors('EMFILE'), true);
  t.equal(isOutOfDescriptors('ENFILE'), true);
  t.equal(isOutOfDescriptors('ENOBUFS'), false);
});

t.test("the backend's failures", async (t) => {
  for (const [code, lb] of [
    ['ECONNREFUSED', 'LB_ERR_CONNECT_REFUSED'],
    ['ECONNRESET', 'LB_ERR_CONNECT_RESET'],
    ['ETIMEDOUT', 'LB_ERR_CONNECT_TIMEOUT'],
    ['EHOSTUNREACH', 'LB_ERR_CONNECT_UNREACHABLE'],
    ['ENETUNREACH', 'LB_ERR_CONNECT_UNREACHABLE'],
    ['EPROTO', 'LB_ERR_CONNECT_OTHER'],
  ] as const) {
    const e = connectError(errno(code), false);
    t.equal(e.side, 'backend', `${code}: the backend's`);
    t.equal(e.retryable, true);
    t.equal(e.code, lb);
    t.equal(isLocalResourceErrno(code), false);
  }
  const timeout = connectError(undefined, true, 500);
  t.equal(timeout.side, 'backend');
  t.equal(timeout.message, 'timeout 500ms');
  t.equal(isLocalResourceErrno(undefined), false);
});
