/**
 * The command line: flags and env into a Config, then run the balancer.
 * The only module that calls process.exit (exit codes: docs/reference.md).
 *
 *   lb4 [flags]                 run
 *   lb4 check --config FILE     validate a config file and exit 0 or 2
 */
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { SETTING_GROUPS, SETTINGS, type SettingDef } from './config/schema.js';
import { buildConfig } from './config/load.js';
import { LbError, UsageError } from './core/errors.js';
import { Balancer } from './balancer.js';
import type { Config } from './config/types.js';
import { ConfigWatcher } from './config/watch.js';
import cluster from 'node:cluster';
import { Primary } from './workers/primary.js';
import { runWorker } from './workers/worker.js';
import type { Loggers } from './logger.js';
import { configureRelay, raiseFdLimit, type Relay } from './l4/relay.js';
import { resolveIdentity, type Identity } from './config/identity.js';
import { cannotSwitch, runningAsFields, switchIdentity } from './privileges.js';
import { STOP_SIGNALS, type EarlySignals } from './signals.js';

/** What the CLI runs: a Balancer (one process) or a workers Primary. */
interface Service {
  readonly loggers: Loggers;
  readonly relay: Relay;
  start(): Promise<void>;
  logReady(): void;
  reload(next: Config): void;
  shutdown(): Promise<void>;
}

const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

function collect(value: string, previous: string[] | undefined): string[] {
  return previous ? [...previous, value] : [value];
}

function helpText(def: SettingDef): string {
  const extras: string[] = [];
  extras.push(`default: ${def.defaultText ?? def.unsetText ?? 'none'}`);
  if (def.env) extras.push(`env: ${def.env}`);
  return `${def.help} (${extras.join(', ')})`;
}

/** Build the commander program; `onRun` receives the raw values by setting key. */
function buildProgram(name: string): { program: Command; values: () => Record<string, unknown> } {
  const program = new Command(name);
  const attrs: Array<{ def: SettingDef; attr: string }> = [];
  // --help lists the settings by topic (commander help groups), in SETTING_GROUPS order
  const byGroup = [...SETTINGS].sort((a, b) => SETTING_GROUPS.indexOf(a.group) - SETTING_GROUPS.indexOf(b.group));
  for (const def of byGroup) {
    const opt = new Option(def.arg ? `${def.flag} <${def.arg}>` : def.flag, helpText(def)).helpGroup(`${def.group}:`);
    if (def.repeatable) opt.argParser(collect);
    program.addOption(opt);
    attrs.push({ def, attr: opt.attributeName() });
  }
  // --version and --help come last, under their own heading
  program.optionsGroup('Other:').helpOption('-h, --help', 'show this help');
  program
    .exitOverride()
    .allowExcessArguments(false)
    .configureOutput({
      writeErr: () => {},
      outputError: () => {},
    });
  const values = () => {
    const o = program.opts();
    const out: Record<string, unknown> = {};
    for (const { def, attr } of attrs) if (o[attr] !== undefined) out[def.key] = o[attr];
    return out;
  };
  return { program, values };
}

/** A usage error: one line on stderr (commander's "Did you mean" goes on the same line), exit 2. */
function usageFail(message: string): never {
  process.stderr.write(`lb4: ${message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')}\n`);
  process.exit(2);
}

function parseArgs(name: string, argv: string[], describe: (p: Command) => void): Record<string, unknown> {
  const { program, values } = buildProgram(name);
  describe(program);
  try {
    program.parse(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(0);
      usageFail(err.message);
    }
    throw err;
  }
  return values();
}

function runCheck(argv: string[]): never {
  const cli = parseArgs('lb4 check', argv, (p) => p.description('validate settings (usually --config FILE) without starting anything; exit 0 or 2'));
  const problems: string[] = [];
  const config = buildConfig({ cli, env: process.env }, problems);
  if (config === null) {
    for (const p of problems) process.stderr.write(`${p}\n`);
    process.exit(2);
  }
  process.stdout.write('config ok\n');
  process.exit(0);
}

/** Entry point used by bin/lb4. */
export async function main(argv: string[], early?: EarlySignals): Promise<void> {
  // LB4_RELAY=js, LB4_RELAY_ADDON, LB4_RELAY_PIPE_SIZE (src/l4/relay.ts).
  // Process switches rather than settings: they change how bytes move, not
  // what lb4 does, and they apply to --workers children.
  const relayProblem = configureRelay(process.env);
  if (relayProblem !== null) usageFail(relayProblem);
  // LB4_RELAY=js: every L4 tunnel in JavaScript (workers inherit the variable)
  const relay = process.env.LB4_RELAY === 'js' ? 'js' : 'native';
  // a --workers child: its settings come from the primary over IPC
  if (cluster.isWorker) process.exit(await runWorker({ relay, early }));
  if (argv[0] === 'check') runCheck(argv.slice(1));
  const cli = parseArgs('lb4', argv, (p) => {
    p.version(VERSION, '-V, --version', 'print the version')
      .description('lb4: a layer-4 load balancer for TCP and TLS, with HTTP awareness.\n\nSettings: command line > environment > --config YAML > defaults.\nDurations: 500ms, 2s, 1.5m, 1h (bare numbers are ms).\nSubcommand: lb4 check --config FILE   validates a config file (exit 0 or 2).');
  });
  let config: Config;
  try {
    config = buildConfig({ cli, env: process.env })!;
  } catch (err) {
    if (err instanceof UsageError) usageFail(err.message);
    throw err;
  }
  // --user/--group: checked now (exit 2, nothing started), applied once bound
  let identity: Identity | null = null;
  try {
    identity = resolveIdentity(config.user, config.group);
  } catch (err) {
    usageFail((err as Error).message);
  }
  if (identity !== null) {
    const why = cannotSwitch(identity);
    if (why !== null) usageFail(why);
  }
  // One process (--workers 1), or the primary of a node:cluster of workers
  // (src/workers/): both run, reload and drain through the same calls.
  const lb: Service = config.workers > 1 ? new Primary(config, { relay }) : new Balancer(config, { relay });
  const log = lb.loggers.log;

  let watcher: ConfigWatcher | null = null;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      // only a second SIGTERM/SIGINT cuts the drain short; SIGQUIT and SIGUSR1 never end it early
      if (signal !== 'SIGTERM' && signal !== 'SIGINT') {
        log.info({ signal }, 'already draining');
        return;
      }
      log.warn({ signal }, 'second signal: exiting now');
      void lb.loggers.flush().then(() => process.exit(0));
      return;
    }
    stopping = true;
    watcher?.close();
    log.info({ signal }, 'shutting down');
    lb.shutdown().then(
      () => lb.loggers.flush().then(() => process.exit(0)),
      (err: Error) => {
        log.error({ err: err.message }, 'shutdown failed');
        return lb.loggers.flush().then(() => process.exit(1));
      },
    );
  };
  /** Re-read --config (SIGHUP or --watch-config); an invalid file keeps the running settings. */
  const reload = (trigger: string) => {
    if (stopping) return;
    if (config.config === null) {
      log.warn(`${trigger} ignored: no --config file to re-read`);
      return;
    }
    let next: Config;
    try {
      next = buildConfig({ cli, env: process.env })!;
    } catch (err) {
      log.error({ err: (err as Error).message, file: config.config, trigger }, 'config reload failed; keeping the running settings');
      return;
    }
    lb.reload(next);
    config = next;
    setWatch(config.watchConfig);
  };
  const setWatch = (on: boolean) => {
    if (on === (watcher !== null) || config.config === null) return;
    if (!on) {
      watcher!.close();
      watcher = null;
      return;
    }
    try {
      watcher = new ConfigWatcher(config.config, () => reload('watch'), (err) => log.error({ err: err.message, file: config.config }, 'config watch failed'));
    } catch (err) {
      log.error({ err: (err as Error).message, file: config.config }, 'config watch failed');
    }
  };
  for (const signal of STOP_SIGNALS) process.on(signal, () => stop(signal));
  process.on('SIGHUP', () => reload('SIGHUP'));
  early?.release();
  // A bug must not take every connection down with it: log and keep serving.
  process.on('uncaughtException', (err) => log.error({ err: err.stack ?? String(err) }, 'uncaught exception'));
  process.on('unhandledRejection', (err) => log.error({ err: (err as Error)?.stack ?? String(err) }, 'unhandled rejection'));

  // Up to the hard limit before anything opens (workers inherit it); then
  // say what this process runs with, and what carries L4 tunnels.
  const fds = raiseFdLimit();
  if (fds !== null) log.info({ soft: fds.soft, hard: fds.hard }, 'file descriptor limit');
  else log.warn('file descriptor limit unknown (no addon, no /proc/self/limits)');
  log.info({ ...lb.relay.plan(config.mode), ...(config.workers > 1 ? { workers: config.workers } : {}) }, 'l4 relay');
  try {
    await lb.start();
  } catch (err) {
    if (err instanceof LbError && err.code === 'LB_ERR_LISTEN') {
      process.stderr.write(`lb4: ${err.message}\n`);
      await lb.loggers.flush();
      process.exit(1);
    }
    throw err;
  }
  // every listener (and the admin listener) is bound, and with --workers every
  // worker has switched: now this process becomes --user/--group for good
  if (identity !== null) {
    try {
      lb.loggers.always.info(runningAsFields(identity, switchIdentity(identity)), 'running as');
    } catch (err) {
      process.stderr.write(`lb4: cannot switch to --user/--group: ${(err as Error).message}\n`);
      await lb.loggers.flush();
      process.exit(1);
    }
  }
  // the watcher is part of being ready: on before the start-up lines
  setWatch(config.watchConfig);
  lb.logReady();
  // signals that came before lb4 handled them (held by bin/lb4): acted on now that it runs
  for (const signal of early?.held ?? []) stop(signal);
}
