#!/usr/bin/env node
// Builds the prebuilt native relay that ships in the npm package (run by
// `npm pack` through the prepack script): prebuildify compiles binding.gyp
// with N-API and puts the result in prebuilds/<platform>-<arch>/, named with
// the tags node-gyp-build matches at load time (napi: any Node.js >= 20 of
// this platform; glibc: not on musl, where the install compiles instead).
//
// Offline: node-gyp is npm's bundled one, and the headers are those
// installed with Node itself (npm_config_nodedir), as in build-native.mjs;
// nothing is downloaded. Linux only; elsewhere it prints why and exits 0
// (the package then compiles at install, or runs without the relay).
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

if (process.platform !== 'linux') {
  console.error(`lb4: no prebuilt relay made (needs Linux, this is ${process.platform})`);
  process.exit(0);
}

const nodeGyp = [
  process.env.npm_config_node_gyp,
  join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
].find((p) => p && existsSync(p));
if (!nodeGyp) {
  console.error('lb4: prebuild: node-gyp not found (npm bundles it)');
  process.exit(1);
}
const local = join(dirname(process.execPath), '..');
const nodedir = process.env.npm_config_nodedir || (existsSync(join(local, 'include/node/node_api.h')) ? local : '');
if (nodedir) process.env.npm_config_nodedir = nodedir;

const prebuildify = createRequire(import.meta.url)('prebuildify');
prebuildify(
  { cwd: root, napi: true, name: 'lb4_relay.napi', tagLibc: true, strip: true, quiet: true, nodeGyp, targets: [] },
  (err) => {
    if (err) {
      console.error(`lb4: prebuild failed: ${err.message ?? err}`);
      process.exit(1);
    }
    const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    console.error(`lb4: prebuilt relay: ${readdirSync(dir).map((f) => join('prebuilds', `${process.platform}-${process.arch}`, f)).join(', ')}`);
  },
);
