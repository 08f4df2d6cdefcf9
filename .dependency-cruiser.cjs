/**
 * lb4's import rules (docs/architecture.md, "Who may import whom"), checked
 * by dependency-cruiser in `make test` (`npm run lint:deps`).
 */
const layer = (name) => `^src/${name}/`;
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import loops between files.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-is-pure',
      severity: 'error',
      comment: 'src/core imports only src/core: no node:* modules, no config, no I/O folders, no packages.',
      from: { path: layer('core') },
      to: { pathNot: layer('core') },
    },
    {
      name: 'config-has-no-io-parts',
      severity: 'error',
      comment: 'Settings are validated at the edge and never reach into the parts that use them.',
      from: { path: layer('config') },
      to: { path: '^src/(l4|l7|stream|health|admin|discovery|workers|limits|geo)/|^src/(balancer|cli|index)\\.ts$' },
    },
    {
      name: 'l4-not-l7-admin',
      severity: 'error',
      comment: 'The L4 parts know nothing of HTTP, the admin server, the checker or the wiring.',
      from: { path: layer('l4') },
      to: { path: '^src/(l7|admin|health|discovery|workers|limits|geo)/|^src/(balancer|cli|index)\\.ts$' },
    },
    {
      name: 'stream-not-l7-admin',
      severity: 'error',
      comment: 'The stream is shared by both modes: it cannot depend on one of them, nor on the admin side; it reaches limits and client routes through StreamServices (contracts in src/core).',
      from: { path: layer('stream') },
      to: { path: '^src/(l7|admin|discovery|workers|limits|geo)/|^src/(balancer|cli|index)\\.ts$' },
    },
    {
      name: 'l7-not-admin',
      severity: 'error',
      from: { path: layer('l7') },
      to: { path: '^src/(admin|health|discovery|workers|limits|geo)/|^src/(balancer|cli|index)\\.ts$' },
    },
    {
      name: 'health-not-admin',
      severity: 'error',
      comment: 'The health checker reports through a small interface; it cannot reach the admin server.',
      from: { path: layer('health') },
      to: { path: '^src/(admin|l7|discovery|workers)/|^src/(balancer|cli|index)\\.ts$' },
    },
    {
      name: 'admin-reads-a-source',
      severity: 'error',
      comment: 'The admin server reads an AdminSource (src/admin/source.ts), not listeners, streams or exchanges.',
      from: { path: layer('admin') },
      to: { path: '^src/(l4|l7|stream|discovery|workers|limits|geo)/|^src/(balancer|cli|index)\\.ts$' },
    },
    {
      name: 'discovery-feeds-pools-only',
      severity: 'error',
      from: { path: layer('discovery') },
      to: { path: '^src/(l4|l7|stream|health|admin|workers)/|^src/(balancer|cli|index)\\.ts$' },
    },
    {
      name: 'limits-core-config-only',
      severity: 'error',
      comment: 'The per-client limits service (src/limits: table use, Redis store) imports core and config only; streams reach it through StreamServices.',
      from: { path: layer('limits') },
      to: { path: '^src/(l4|l7|stream|health|admin|discovery|workers|geo)/|^src/[^/]+\\.ts$' },
    },
    {
      name: 'geo-core-config-only',
      severity: 'error',
      comment: 'The GeoIP reader and client routes (src/geo) import core and config only; streams reach them through StreamServices.',
      from: { path: layer('geo') },
      to: { path: '^src/(l4|l7|stream|health|admin|discovery|workers|limits)/|^src/[^/]+\\.ts$' },
    },
    {
      name: 'only-the-cli-is-the-cli',
      severity: 'error',
      comment: 'Nothing imports the command line (it is the only module that calls process.exit).',
      from: { pathNot: '^src/cli\\.ts$' },
      to: { path: '^src/cli\\.ts$' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
