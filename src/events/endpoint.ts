/**
 * One webhook endpoint: its filter, its durable queue, and the loop that delivers the queue in order.
 *
 * Delivery follows Distribution's retrying HTTP sink: each event is POSTed alone in an envelope
 * (`{"events":[...]}`, Content-Type `application/vnd.docker.distribution.events.v2+json`, the configured
 * headers); a 2xx or 3xx answer is success; anything else is retried, at once until `threshold` failures
 * in a row, then every `backoff`. An event is never skipped: the next one waits until it is delivered, so a
 * receiver sees events in the order they happened, at least once. Requests never wait for any of this:
 * they only append to the queue.
 *
 * Berth's addition: with a `secret`, each POST carries `X-Berth-Signature-256: sha256=<hex>`, the
 * HMAC-SHA256 of the exact body under that secret (the scheme GitHub uses for its webhooks).
 */
import { createHmac } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/index.js';
import { EVENTS_MEDIA_TYPE, type RegistryEvent } from './event.js';
import type { DiskQueue } from './queue.js';

export const SIGNATURE_HEADER = 'X-Berth-Signature-256';
/** Pause between retries below the threshold, so a refusing endpoint is not hammered in a tight loop. */
const QUICK_RETRY_MS = 50;

export interface EndpointSettings {
  name: string;
  url: string;
  headers: Record<string, string[]>;
  timeoutMs: number;
  threshold: number;
  backoffMs: number;
  secret?: string;
  ignoredMediaTypes: readonly string[];
  ignoredActions: readonly string[];
}

type NotificationMetrics = Pick<Metrics, 'notificationEvents' | 'notificationsPending' | 'notificationStatus'>;

export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export class Endpoint {
  readonly settings: EndpointSettings;
  readonly #queue: DiskQueue;
  readonly #metrics: NotificationMetrics | undefined;
  readonly #logger: Logger;
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(settings: EndpointSettings, queue: DiskQueue, logger: Logger, metrics?: NotificationMetrics) {
    this.settings = settings;
    this.#queue = queue;
    this.#logger = logger.child({ endpoint: settings.name });
    this.#metrics = metrics;
    this.#metrics?.notificationsPending.set({ endpoint: settings.name }, queue.pending);
  }

  /** Whether the endpoint wants the event (`ignore.actions`, `ignore.mediatypes`, `ignoredmediatypes`). */
  accepts(event: RegistryEvent): boolean {
    const { ignoredActions, ignoredMediaTypes } = this.settings;
    if (ignoredActions.includes(event.action)) return false;
    return event.target.mediaType === undefined || !ignoredMediaTypes.includes(event.target.mediaType);
  }

  /** Resolves once the event is durably queued for this endpoint. */
  async enqueue(event: RegistryEvent): Promise<void> {
    await this.#queue.append(JSON.stringify(event));
    this.#metrics?.notificationEvents.inc({ type: 'Events', endpoint: this.settings.name });
    this.#metrics?.notificationsPending.set({ endpoint: this.settings.name }, this.#queue.pending);
  }

  start(): void {
    this.#loop ??= this.#deliverAll().catch((err) => this.#logger.error({ err }, 'notification delivery stopped'));
  }

  /** Stops delivering (an in-flight POST is abandoned; its event is delivered again next time) and closes the queue. */
  async close(): Promise<void> {
    this.#stop.abort();
    await this.#queue.close();
    await this.#loop;
  }

  async #deliverAll(): Promise<void> {
    for (let record = await this.#queue.next(); record !== undefined; record = await this.#queue.next()) {
      const body = `{"events":[${record}]}`;
      for (let failures = 1; ; failures++) {
        const failure = await this.#post(body);
        if (failure === undefined) break;
        if (this.#stop.signal.aborted) return;
        // Once per event and then once per backoff round, not once per attempt.
        if (failures === 1 || failures % this.settings.threshold === 0) {
          this.#logger.warn({ reason: failure, attempts: failures }, 'notification not delivered yet; retrying');
        }
        await this.#pause(failures >= this.settings.threshold ? this.settings.backoffMs : QUICK_RETRY_MS);
        if (this.#stop.signal.aborted) return;
      }
      await this.#queue.ack();
      this.#metrics?.notificationsPending.set({ endpoint: this.settings.name }, this.#queue.pending);
    }
  }

  /** One delivery attempt: undefined when the endpoint took it, else why not. */
  async #post(body: string): Promise<string | undefined> {
    const { name, url, headers, timeoutMs, secret } = this.settings;
    const requestHeaders = new Headers();
    for (const [header, values] of Object.entries(headers)) for (const value of values) requestHeaders.append(header, value);
    requestHeaders.set('Content-Type', EVENTS_MEDIA_TYPE);
    if (secret !== undefined) requestHeaders.set(SIGNATURE_HEADER, signature(secret, body));
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: requestHeaders,
        body,
        signal: AbortSignal.any([this.#stop.signal, AbortSignal.timeout(timeoutMs)]),
      });
      await response.body?.cancel();
      const ok = response.status >= 200 && response.status < 400;
      this.#metrics?.notificationStatus.inc({ code: `${response.status} ${STATUS_CODES[response.status] ?? ''}`.trim(), endpoint: name });
      this.#metrics?.notificationEvents.inc({ type: ok ? 'Successes' : 'Failures', endpoint: name });
      return ok ? undefined : `status ${response.status}`;
    } catch (err) {
      if (this.#stop.signal.aborted) return 'stopping';
      this.#metrics?.notificationEvents.inc({ type: 'Errors', endpoint: name });
      // The message only: the error's cause can carry the URL, which may hold credentials.
      return (err as Error).message;
    }
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const signal = this.#stop.signal;
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done);
    });
  }
}
