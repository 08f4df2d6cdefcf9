#!/usr/bin/env node
// Builds lb4's optional native relay (native/relay.c, Linux only) with the
// node-gyp that npm bundles, against the headers npm is configured with.
// lb4 works without it (the JavaScript tunnel carries every connection), so a
// failed build prints one line saying so and exits 0: an install never fails
// for it. `--strict` exits 1 instead (make native).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.argv.includes('--strict');

function giveUp(why) {
  console.error(`lb4: native relay not built (${why}); the JavaScript tunnel will carry L4 connections`);
  process.exit(strict ? 1 : 0);
}

if (process.platform !== 'linux') giveUp(`needs Linux, this is ${process.platform}`);

const candidates = [
  process.env.npm_config_node_gyp,
  join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
].filter((p) => p && existsSync(p));
if (candidates.length === 0) giveUp('node-gyp not found');

// The machine has no route to nodejs.org: build against the headers installed
// with Node itself (npm passes its configured nodedir when it runs us).
const args = [candidates[0], 'rebuild', '--silent'];
const local = join(dirname(process.execPath), '..');
const nodedir = process.env.npm_config_nodedir || (existsSync(join(local, 'include/node/node_api.h')) ? local : '');
if (nodedir) args.push(`--nodedir=${nodedir}`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
if (r.status !== 0) giveUp(`node-gyp exited with ${r.status ?? r.signal}`);
if (!existsSync(join(root, 'build/Release/lb4_relay.node'))) giveUp('node-gyp produced no build/Release/lb4_relay.node');
