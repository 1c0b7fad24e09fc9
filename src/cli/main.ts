/**
 * The `berth` command line. Each subcommand parses its arguments, loads the config and hands over. Modules are
 * imported by the subcommand that needs them: each process of a server holds only what it runs (a worker
 * process no config parser, and no process keeps the parser once the config is loaded).
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { ConfigError } from '../config/errors.js';
import { normalizeBooleanFlags } from './gc.js';
import { loadConfigInThread } from './load-config.js';

const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

/** Loads the config named on the command line, or from REGISTRY_CONFIGURATION_PATH, or the zero-setup default. */
function load(path: string | undefined) {
  return loadConfigInThread({ ...(path !== undefined && { path }), env: process.env });
}

const program = new Command()
  .name('berth')
  .description('A private container image registry, drop-in for registry:2')
  .version(version, '-v, --version');

program
  .command('serve')
  .description('serve the registry (config file, else $REGISTRY_CONFIGURATION_PATH, else :5000 with storage in ./data)')
  .argument('[config]', 'path to config.yml')
  .action(async (path?: string) => {
    const { isWorkerProcess, servePrimary, serveWorker, workerCount } = await import('./workers.js');
    // A worker serves the configuration its primary loaded, not whatever the file says now.
    if (isWorkerProcess()) return serveWorker();
    const { config, warnings, source } = await load(path);
    const workers = workerCount(config.http.workers);
    await (workers > 1 ? servePrimary(config, warnings, source, workers) : (await import('./serve.js')).serve(config, warnings, source));
  });

program
  .command('garbage-collect')
  .description('delete blobs no manifest references (run it with the registry stopped or read-only)')
  .argument('[config]', 'path to config.yml')
  .option('-d, --dry-run', 'do everything except remove the blobs', false)
  .option('-m, --delete-untagged', 'delete manifests that are not currently referenced via tag', false)
  .action(async (path: string | undefined, flags: { dryRun: boolean; deleteUntagged: boolean }) => {
    const { config, warnings } = await load(path);
    for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
    const [{ garbageCollect }, { createLogger }, { createRedisClient, DEFAULT_DIAL_TIMEOUT_MS, whenReady }, { createStorageDriver }] =
      await Promise.all([import('./gc.js'), import('./logging.js'), import('./redis.js'), import('./storage.js')]);
    // With a shared Redis cache, the replicas must forget the blobs deleted here.
    const redis = (config.storage.cache.blobdescriptor ?? config.storage.cache.layerinfo) === 'redis' ? await createRedisClient(config.redis, createLogger(config.log)) : undefined;
    if (redis !== undefined && !(await whenReady(redis, config.redis.dialtimeout ?? DEFAULT_DIAL_TIMEOUT_MS))) {
      throw new Error('redis is not reachable: the replicas would keep serving the deleted blobs from their cache');
    }
    const cache = redis && (await import('./serve.js')).createBlobDescriptorCache(config, redis);
    try {
      await garbageCollect(await createStorageDriver(config), flags, process.stdout, cache && ((digest) => cache.deleteBlob(digest)));
    } finally {
      redis?.disconnect();
    }
  });

program
  .command('config')
  .description('work with configuration files')
  .command('check')
  .description('validate a config and print the effective configuration, secrets masked')
  .argument('[config]', 'path to config.yml')
  .action(async (path?: string) => {
    const { config, warnings, source } = await load(path);
    const { formatEffectiveConfig } = await import('../config/print.js');
    process.stdout.write(formatEffectiveConfig(config));
    for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
    process.stderr.write(`configuration from ${source} is valid\n`);
  });

const htpasswd = program.command('htpasswd').description('manage a bcrypt htpasswd file (auth.htpasswd, token service accounts)');
htpasswd
  .command('add')
  .description('add a user or change their password (prompted for, or read from stdin)')
  .argument('<file>', 'htpasswd file (created if missing)')
  .argument('<user>', 'user name')
  .action(async (file: string, user: string) => (await import('./htpasswd.js')).htpasswdAdd(file, user));
htpasswd
  .command('delete')
  .description('remove a user')
  .argument('<file>', 'htpasswd file')
  .argument('<user>', 'user name')
  .action(async (file: string, user: string) => (await import('./htpasswd.js')).htpasswdDelete(file, user));

const argv = () => (process.argv[2] === 'garbage-collect' ? normalizeBooleanFlags(process.argv) : process.argv);

Promise.resolve()
  .then(() => program.parseAsync(argv()))
  .catch((err: unknown) => {
    if (err instanceof ConfigError) {
      for (const warning of err.warnings) process.stderr.write(`warning: ${warning}\n`);
      process.stderr.write(`berth: ${err.message}\n`);
    } else {
      process.stderr.write(`berth: ${err instanceof Error ? err.message : String(err)}\n`);
    }
    process.exit(1);
  });
