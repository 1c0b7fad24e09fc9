/**
 * Loads the configuration in a short-lived worker thread. The schema (zod) and the YAML parser then live only
 * in that thread's heap, freed when it exits, instead of staying in a server process for its lifetime (about
 * 10 MiB). The result is plain data; a ConfigError is rebuilt here so that callers see the same error.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { ConfigError } from '../config/errors.js';
import type { LoadedConfig, LoadOptions } from '../config/load.js';

type Outcome = { loaded: LoadedConfig } | { configError: { source: string; problems: string[]; warnings: string[] } } | { error: string };

export function loadConfigInThread(options: Pick<LoadOptions, 'path' | 'env'>): Promise<LoadedConfig> {
  return new Promise((resolve, reject) => {
    const thread = new Worker(new URL(import.meta.url), { workerData: options });
    thread.once('message', (outcome: Outcome) => {
      if ('loaded' in outcome) resolve(outcome.loaded);
      else if ('configError' in outcome) reject(new ConfigError(outcome.configError.source, outcome.configError.problems, outcome.configError.warnings));
      else reject(new Error(outcome.error));
    });
    thread.once('error', reject);
  });
}

async function loadHere(options: LoadOptions): Promise<Outcome> {
  const { loadConfig } = await import('../config/load.js');
  try {
    return { loaded: loadConfig(options) };
  } catch (err) {
    if (err instanceof ConfigError) return { configError: { source: err.source, problems: [...err.problems], warnings: [...err.warnings] } };
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

if (!isMainThread && parentPort !== null) parentPort.postMessage(await loadHere(workerData as LoadOptions));
