#!/usr/bin/env node
// npm's install hook. The npm package ships a prebuilt native relay
// (prebuilds/<platform>-<arch>/, made by scripts/prebuild.mjs at `npm pack`):
// when one fits this machine and loads, nothing is compiled and no compiler
// is needed. Otherwise (another platform, musl, a git checkout, or
// --build-from-source) the relay is compiled by scripts/build-native.mjs,
// which never fails the install: without the relay lb4 carries every
// connection in JavaScript.
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fromSource = process.env.npm_config_build_from_source === 'true' || process.argv.includes('--build-from-source');

if (!fromSource && process.platform === 'linux') {
  const require = createRequire(import.meta.url);
  let found = null;
  try {
    found = require('node-gyp-build').resolve(root);
    require(found);
  } catch (err) {
    if (found) console.error(`lb4: the prebuilt relay ${relative(root, found)} does not load here (${String(err.message).split('\n')[0]}); compiling it`);
    found = null;
  }
  if (found) process.exit(0);
}
await import('./build-native.mjs');
