/** lb4's version (package.json), for /stats, lb4_info and --version. */
import { readFileSync } from 'node:fs';

export const VERSION: string = (() => {
  try {
    // src/admin/ and dist/admin/ are both two levels below the package root
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();
