/**
 * The event sink `berth serve` uses: it broadcasts each event to every enabled endpoint that accepts it,
 * through that endpoint's durable queue under `<queueDir>/<endpoint name>/` (see `queue.ts`).
 *
 * `write` resolves once every interested queue has the event on disk, and never rejects: a queue that
 * cannot be written to (a full disk) is logged as an error and the request that caused the event still
 * succeeds, as in Distribution, whose listener only logs sink errors.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/index.js';
import { Endpoint, type EndpointSettings } from './endpoint.js';
import type { EventSink, RegistryEvent } from './event.js';
import { DiskQueue } from './queue.js';

export interface NotifierOptions {
  endpoints: EndpointSettings[];
  queueDir: string;
  logger: Logger;
  metrics?: Metrics;
}

/** A directory name for an endpoint's queue: its name with anything unusual replaced. */
export function queueDirName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
}

export class Notifier implements EventSink {
  readonly #endpoints: Endpoint[];
  readonly #logger: Logger;

  private constructor(endpoints: Endpoint[], logger: Logger) {
    this.#endpoints = endpoints;
    this.#logger = logger;
  }

  /** Opens every endpoint's queue (picking up what an earlier run left undelivered) and starts delivery. */
  static async open(options: NotifierOptions): Promise<Notifier> {
    const seen = new Set<string>();
    for (const settings of options.endpoints) {
      const dir = queueDirName(settings.name);
      if (seen.has(dir)) throw new Error(`notifications.endpoints: two endpoints named ${JSON.stringify(settings.name)} would share a queue`);
      seen.add(dir);
    }
    const endpoints: Endpoint[] = [];
    for (const settings of options.endpoints) {
      const queue = await DiskQueue.open(path.join(options.queueDir, queueDirName(settings.name)));
      if (queue.pending > 0) options.logger.info({ endpoint: settings.name, pending: queue.pending }, 'resuming queued notifications');
      endpoints.push(new Endpoint(settings, queue, options.logger, options.metrics));
    }
    for (const endpoint of endpoints) endpoint.start();
    return new Notifier(endpoints, options.logger);
  }

  async write(event: RegistryEvent): Promise<void> {
    await Promise.all(
      this.#endpoints
        .filter((endpoint) => endpoint.accepts(event))
        .map((endpoint) =>
          endpoint.enqueue(event).catch((err: unknown) => {
            this.#logger.error({ err, endpoint: endpoint.settings.name, event: event.id }, 'could not queue a notification');
          }),
        ),
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.#endpoints.map((endpoint) => endpoint.close()));
  }
}
