/**
 * A notification endpoint for tests: an HTTP server on loopback that records every envelope POSTed to it,
 * and can be taken down and brought back on the same port to simulate an outage.
 */
import { createServer, type Server } from 'node:http';

export interface Delivery {
  headers: Record<string, string | string[] | undefined>;
  body: string;
  events: Record<string, unknown>[];
}

export interface WebhookReceiver {
  url: string;
  port: number;
  deliveries: Delivery[];
  /** Every event received, in arrival order (duplicates included). */
  events(): Record<string, any>[];
  /** Resolves once `predicate` holds for the events received, or rejects after `timeoutMs`. */
  waitFor(predicate: (events: Record<string, any>[]) => boolean, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
}

export async function startWebhookReceiver(port = 0): Promise<WebhookReceiver> {
  const deliveries: Delivery[] = [];
  let server: Server;
  let boundPort = port;

  const listen = async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const parsed = JSON.parse(body) as { events: Record<string, unknown>[] };
        deliveries.push({ headers: request.headers, body, events: parsed.events });
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(boundPort, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    boundPort = address.port;
  };
  await listen();

  const receiver: WebhookReceiver = {
    url: `http://127.0.0.1:${boundPort}/events`,
    port: boundPort,
    deliveries,
    events: () => deliveries.flatMap((d) => d.events),
    async waitFor(predicate, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(receiver.events())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for events; got ${JSON.stringify(receiver.events().map((e) => [e.action, e.target]))}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
    restart: listen,
  };
  return receiver;
}
