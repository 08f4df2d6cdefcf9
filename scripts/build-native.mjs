#!/usr/bin/env node
// Builds lb4's optional native relay (native/relay-engine.c and its binding
// native/relay-addon.c, Linux only) with the node-gyp that npm bundles,
// against the headers npm is configured with. lb4 works without it (the
// JavaScript tunnel carries every connection), so a failed build prints one
// line saying so and exits 0: an install never fails for it. `--strict`
// exits 1 instead (make native).
//
// `--asan` (make native-asan) builds the sanitizer variant instead, straight
// with the C compiler ($CC, default cc): AddressSanitizer + UBSan (fatal),
// -Werror, into build-asan/lb4_relay.node, leaving build/ alone. It loads
// only into a process that starts with libasan (LD_PRELOAD), with
// LB4_RELAY_ADDON naming it: scripts/test-native-asan.mjs does both.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const asan = process.argv.includes('--asan');
const strict = asan || process.argv.includes('--strict');

function giveUp(why) {
  if (asan) console.error(`lb4: sanitizer build of the native relay failed (${why})`);
  else console.error(`lb4: native relay not built (${why}); the JavaScript tunnel will carry L4 connections`);
  process.exit(strict ? 1 : 0);
}

if (process.platform !== 'linux') giveUp(`needs Linux, this is ${process.platform}`);

// The machine has no route to nodejs.org: build against the headers installed
// with Node itself (npm passes its configured nodedir when it runs us).
const local = join(dirname(process.execPath), '..');
const nodedir = process.env.npm_config_nodedir || (existsSync(join(local, 'include/node/node_api.h')) ? local : '');

if (asan) {
  const include = nodedir ? join(nodedir, 'include/node') : '';
  if (!include || !existsSync(join(include, 'node_api.h'))) giveUp('no Node headers (include/node/node_api.h) next to this node');
  mkdirSync(join(root, 'build-asan'), { recursive: true });
  const out = join(root, 'build-asan/lb4_relay.node');
  const cc = process.env.CC || 'cc';
  const r = spawnSync(
    cc,
    [
      '-shared', '-fPIC', '-std=gnu11', '-O1', '-g', '-fno-omit-frame-pointer',
      '-fsanitize=address,undefined', '-fno-sanitize-recover=all',
      '-Wall', '-Wextra', '-Werror',
      `-I${include}`, '-DNODE_GYP_MODULE_NAME=lb4_relay',
      'native/relay-engine.c', 'native/relay-addon.c',
      '-o', out, '-lpthread',
    ],
    { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (r.status !== 0) giveUp(`${cc} exited with ${r.status ?? r.signal ?? r.error?.message}`);
  console.error(`lb4: sanitizer build of the native relay: ${out}`);
  process.exit(0);
}

const candidates = [
  process.env.npm_config_node_gyp,
  join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
].filter((p) => p && existsSync(p));
if (candidates.length === 0) giveUp('node-gyp not found');

const args = [candidates[0], 'rebuild', '--silent'];
if (nodedir) args.push(`--nodedir=${nodedir}`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
if (r.status !== 0) giveUp(`node-gyp exited with ${r.status ?? r.signal}`);
if (!existsSync(join(root, 'build/Release/lb4_relay.node'))) giveUp('node-gyp produced no build/Release/lb4_relay.node');
