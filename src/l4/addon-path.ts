/**
 * Where the native relay's addon is loaded from (src/l4/relay.ts loads it):
 *
 * 1. build/Release/lb4_relay.node: compiled here (`npm ci`, `make native`, or
 *    an install where no prebuilt addon fits);
 * 2. else the prebuilt addon shipped in the npm package,
 *    prebuilds/<platform>-<arch>/ (`npm pack` makes it), chosen by
 *    node-gyp-build for this platform, architecture and libc.
 *
 * Throws when there is neither (the relay then stays off, with the reason).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function nativeAddonPath(): string {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const local = join(root, 'build', 'Release', 'lb4_relay.node');
  if (existsSync(local)) return local;
  const nodeGypBuild = createRequire(import.meta.url)('node-gyp-build') as { resolve(dir: string): string };
  return nodeGypBuild.resolve(root);
}
