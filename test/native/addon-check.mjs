// Exercises the relay addon (native/relay-addon.c) through its whole
// JavaScript surface and prints what it saw as one JSON document; the
// assertions are in test/unit/relay-addon.test.ts, which runs this file in a
// child process so that it can start with libasan preloaded when it checks
// the sanitizer build (make test-native-asan).
//
//   node test/native/addon-check.mjs ADDON.node
import { createRequire } from 'node:module';
import { once } from 'node:events';
import net from 'node:net';

const addon = createRequire(import.meta.url)(process.argv[2]);
const out = { reasons: addon.reasons, misuse: {}, cycle: {} };

const noop = () => {};
const misuse = {
  'adopt()': () => addon.adopt(),
  'adopt(1, 2, 3)': () => addon.adopt(1, 2, 3),
  "adopt('7', 8, 0, 0)": () => addon.adopt('7', 8, 0, 0),
  'adopt(7, -1, 0, 0)': () => addon.adopt(7, -1, 0, 0),
  'adopt(7, 8, NaN, 0)': () => addon.adopt(7, 8, NaN, 0),
  'close()': () => addon.close(),
  'close(1, 99)': () => addon.close(1, 99),
  'init()': () => addon.init(),
  'init(fn, 5)': () => addon.init(noop, 5),
  "init(fn, fn, { pipeSize: 'big' })": () => addon.init(noop, noop, { pipeSize: 'big' }),
  'stats(1)': () => addon.stats(1),
};
for (const [name, call] of Object.entries(misuse)) {
  try {
    call();
    out.misuse[name] = null;
  } catch (e) {
    out.misuse[name] = { name: e.name, code: e.code, message: e.message };
  }
}
out.adoptBeforeInit = addon.adopt(7, 8, 0, 0);
out.nofile = addon.raiseNofile();

// One tunnel through the relay, as lb4 hands one over: a client connected to
// our front server, our socket to an echo backend; the relay gets both
// descriptors and Node lets go of its own.
const ends = [];
const counters = addon.init((id, reason, errno, bytesIn, bytesOut) => ends.push({ id, reason, errno, bytesIn, bytesOut }), (errno, message) => ends.push({ failed: errno, message }));
out.cycle.counters = counters.length;
try {
  addon.init(noop, noop);
  out.cycle.initTwice = null;
} catch (e) {
  out.cycle.initTwice = e.message;
}
const backend = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
backend.listen(0, '127.0.0.1');
await once(backend, 'listening');
const front = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
front.listen(0, '127.0.0.1');
await once(front, 'listening');
const client = net.connect({ port: front.address().port, host: '127.0.0.1', allowHalfOpen: true });
const [accepted] = await once(front, 'connection');
const upstream = net.connect({ port: backend.address().port, host: '127.0.0.1', allowHalfOpen: true });
await once(upstream, 'connect');
upstream.pause();
const id = addon.adopt(accepted._handle.fd, upstream._handle.fd, 60_000, 0);
out.cycle.id = id;
accepted.destroy();
upstream.destroy();
out.cycle.liveAfterAdopt = addon.stats().live;
client.end('ping over the relay');
let echoed = '';
client.setEncoding('utf8');
client.on('data', (d) => (echoed += d));
await once(client, 'end');
out.cycle.echoed = echoed;
while (ends.length === 0) await new Promise((r) => setTimeout(r, 10));
out.cycle.ends = ends;
out.cycle.stats = addon.stats();
addon.close(id, 5); // already ended: nothing happens
addon.stop();
addon.stop(); // idempotent
out.cycle.adoptAfterStop = addon.adopt(7, 8, 0, 0);
client.destroy();
front.close();
backend.close();
process.stdout.write(JSON.stringify(out));
process.exit(0);
