/**
 * Operations end to end, against Berth only (the features under test are Berth's or differ in Distribution):
 * metrics scraped after real skopeo pushes and pulls, webhook events with Distribution's fields, events
 * that survive a dead receiver and a restart of Berth, and the storage health check turning the API to 503.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, symlink, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { requireCommand, skopeo } from '../helpers/clients.js';
import { makeImage, type BuiltImage } from '../helpers/oci-layout.js';
import { freePort } from '../helpers/net.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry-process.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const SECRET = 'hook-secret';

/** The value of one sample in Prometheus' text format, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

async function waitUntil(what: string, condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const sizeOf = (image: BuiltImage) =>
  image.manifest.size + image.config.size + image.layers.reduce((sum, layer) => sum + layer.size, 0);

describe('operations: metrics and notifications (berth)', () => {
  let work: string;
  let root: string;
  let receiver: WebhookReceiver;
  let registry: RunningRegistry;
  let debugUrl: string;
  let config: Record<string, unknown>;
  let image: BuiltImage;
  const layout = () => path.join(work, 'layout');
  const push = (tag: string, target: RunningRegistry, repo: string) =>
    skopeo(['copy', '--dest-tls-verify=false', `oci:${layout()}:${tag}`, `docker://${target.host}/${repo}:${tag}`]);
  const scrape = async () => (await fetch(`${debugUrl}/metrics`)).text();

  before(async () => {
    requireCommand('skopeo', 'skopeo');
    work = await mkdtemp(path.join(os.tmpdir(), 'berth-e2e-ops-'));
    root = path.join(work, 'root');
    receiver = await startWebhookReceiver();
    const debugPort = await freePort();
    debugUrl = `http://127.0.0.1:${debugPort}`;
    config = {
      http: { debug: { addr: `127.0.0.1:${debugPort}`, prometheus: { enabled: true } } },
      notifications: {
        endpoints: [{ name: 'ci', url: receiver.url, secret: SECRET, timeout: '500ms', threshold: 2, backoff: '200ms' }],
      },
    };
    registry = await startRegistry({ kind: 'berth', rootDirectory: root, config });
  });
  after(async () => {
    await registry?.stop();
    await receiver?.stop();
    await rm(work, { recursive: true, force: true });
  });

  test('scraped metrics count skopeo pushes and pulls with Distribution names and labels', async () => {
    image = await makeImage({ dir: layout(), tag: 'v1', layers: [{ size: 150_000 }, { bytes: 'ops\n' }] });
    await push('v1', registry, 'team/app');
    await skopeo(['copy', '--src-tls-verify=false', `docker://${registry.host}/team/app:v1`, `oci:${path.join(work, 'out')}:v1`]);

    // A response is counted when its connection reports it closed, a moment after the client has it all.
    const blobGets = (text: string) => sample(text, 'registry_http_requests_total', { handler: 'blob', code: '200', method: 'get' });
    await waitUntil('the blob GETs are counted', async () => blobGets(await scrape()) === 3, 5_000).catch(() => {});
    const text = await scrape();
    assert.equal(sample(text, 'registry_http_requests_total', { handler: 'manifest', code: '201', method: 'put' }), 1);
    assert.equal(sample(text, 'registry_http_requests_total', { handler: 'blob_upload_chunk', code: '201', method: 'put' }), 3);
    assert.equal(sample(text, 'registry_http_requests_total', { handler: 'blob', code: '200', method: 'get' }), 3);
    assert.ok(sample(text, 'registry_http_requests_total', { handler: 'manifest', code: '200', method: 'get' })! >= 1);
    assert.ok(sample(text, 'registry_http_request_duration_seconds_count', { handler: 'blob', method: 'get' })! >= 3);
    assert.ok(sample(text, 'registry_http_response_size_bytes_sum', { handler: 'blob' })! >= image.layers[0]!.size);
    assert.equal(sample(text, 'registry_http_in_flight_requests', { handler: 'blob' }), 0);
    assert.ok(sample(text, 'registry_storage_action_seconds_count', { driver: 'filesystem', action: 'PutContent' })! > 0);
    assert.ok(sample(text, 'registry_storage_action_seconds_count', { driver: 'filesystem', action: 'Reader' })! >= 3);
    const cacheRequests = sample(text, 'registry_storage_cache_total', { type: 'Request' })!;
    assert.ok(cacheRequests > 0);
    assert.equal(
      sample(text, 'registry_storage_cache_total', { type: 'Hit' })! + sample(text, 'registry_storage_cache_total', { type: 'Miss' })!,
      cacheRequests,
    );
    assert.equal(sample(text, 'berth_bytes_pushed_total', { namespace: 'team' }), sizeOf(image));
    assert.equal(sample(text, 'berth_bytes_pulled_total', { namespace: 'team' }), sizeOf(image));
    assert.equal(sample(text, 'berth_upload_sessions_started_total'), 3);
    assert.equal(sample(text, 'berth_upload_sessions_closed_total', { result: 'committed' }), 3);
    assert.ok(sample(text, 'registry_notifications_events_total', { type: 'Events', endpoint: 'ci' })! >= 5);
    assert.ok(sample(text, 'process_cpu_user_seconds_total')! > 0);
    assert.ok(text.includes('nodejs_heap_size_used_bytes'));
  });

  test('the webhook gets signed push, pull and delete events with Distribution field names', async () => {
    const manifestUrl = `${registry.url}/v2/team/app/manifests/${image.manifest.digest}`;
    assert.equal((await fetch(manifestUrl, { method: 'DELETE' })).status, 202);
    const layer = image.layers[1]!.digest;
    assert.equal((await fetch(`${registry.url}/v2/team/app/blobs/${layer}`, { method: 'DELETE' })).status, 202);

    await receiver.waitFor((events) => events.filter((e) => e.action === 'delete').length === 2);
    const events = receiver.events();
    const manifestPush = events.find((e) => e.action === 'push' && e.target.digest === image.manifest.digest)!;
    assert.deepEqual(Object.keys(manifestPush), ['id', 'timestamp', 'action', 'target', 'request', 'actor', 'source']);
    assert.deepEqual(manifestPush.target, {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: image.manifest.size,
      digest: image.manifest.digest,
      length: image.manifest.size,
      repository: 'team/app',
      url: `${registry.url}/v2/team/app/manifests/${image.manifest.digest}`,
      tag: 'v1',
    });
    assert.deepEqual(Object.keys(manifestPush.request).sort(), ['addr', 'host', 'id', 'method', 'useragent']);
    assert.equal(manifestPush.request.method, 'PUT');
    assert.match(manifestPush.request.useragent, /skopeo|containers/i);
    assert.match(manifestPush.source.instanceID, /^[0-9a-f-]{36}$/);
    assert.ok(!Number.isNaN(Date.parse(manifestPush.timestamp)));

    const blobPushes = events.filter((e) => e.action === 'push' && e.target.mediaType === 'application/octet-stream');
    assert.deepEqual(
      blobPushes.map((e) => e.target.digest).sort(),
      [image.config.digest, ...image.layers.map((l) => l.digest)].sort(),
    );
    const pulls = events.filter((e) => e.action === 'pull');
    assert.ok(pulls.some((e) => e.target.digest === image.manifest.digest && e.target.tag === 'v1'));
    assert.equal(pulls.filter((e) => e.target.mediaType === 'application/octet-stream').length, 3);
    const deletes = events.filter((e) => e.action === 'delete').map((e) => e.target);
    assert.deepEqual(deletes, [
      { digest: image.manifest.digest, repository: 'team/app' },
      { digest: layer, repository: 'team/app' },
    ]);
    // Pushes reach the receiver before the pulls and deletes that followed them.
    const order = events.map((e) => e.action);
    assert.ok(order.lastIndexOf('push') < order.indexOf('pull') && order.lastIndexOf('pull') < order.indexOf('delete'));

    for (const delivery of receiver.deliveries) {
      assert.equal(delivery.headers['content-type'], 'application/vnd.docker.distribution.events.v2+json');
      const expected = `sha256=${createHmac('sha256', SECRET).update(delivery.body).digest('hex')}`;
      assert.equal(delivery.headers['x-berth-signature-256'], expected);
      assert.equal(delivery.events.length, 1);
    }
  });

  test('events queued while the receiver is down arrive in order after Berth restarts; pushes do not wait', async (t) => {
    for (const tag of ['o1', 'o2', 'o3']) await makeImage({ dir: layout(), tag, layers: [{ size: 400_000 }] });
    const timed = async (target: RunningRegistry, repo: string) => {
      const started = performance.now();
      for (const tag of ['o1', 'o2']) await push(tag, target, repo);
      return performance.now() - started;
    };
    // Measured, not asserted: timings on a shared machine are noise-prone.
    const withLiveEndpoint = await timed(registry, 'live/app');
    await receiver.stop();
    const withDeadEndpoint = await timed(registry, 'outage/app');
    const baseline = await startRegistry({ kind: 'berth' });
    const withoutEndpoint = await timed(baseline, 'outage/app').finally(() => baseline.stop());
    t.diagnostic(
      `2 skopeo pushes: ${withDeadEndpoint.toFixed(0)} ms with the endpoint down, ` +
        `${withLiveEndpoint.toFixed(0)} ms with it up, ${withoutEndpoint.toFixed(0)} ms with no endpoint`,
    );

    await registry.stop();
    registry = await startRegistry({ kind: 'berth', rootDirectory: root, config });
    await push('o3', registry, 'outage/app');
    await receiver.restart();

    const tagPushes = (events: Record<string, any>[]) =>
      events.filter((e) => e.action === 'push' && e.target.repository === 'outage/app' && e.target.tag).map((e) => e);
    await receiver.waitFor((events) => new Set(tagPushes(events).map((e) => e.target.tag)).size === 3);
    const seen = new Set<string>();
    const unique = receiver.events().filter((e) => !seen.has(e.id) && seen.add(e.id));
    assert.deepEqual([...new Set(tagPushes(unique).map((e) => e.target.tag))], ['o1', 'o2', 'o3']);
    const times = unique.map((e) => Date.parse(e.timestamp));
    assert.deepEqual(times, [...times].sort((a, b) => a - b), 'events arrive in the order they happened');
    assert.ok(unique.filter((e) => e.target.repository === 'outage/app' && e.action === 'push').length >= 6);
  });
});

describe('operations: storage health check (berth)', () => {
  test('a failing storage check turns /v2/ into 503 and back, and readiness with it', async () => {
    const work = await mkdtemp(path.join(os.tmpdir(), 'berth-e2e-health-'));
    const root = path.join(work, 'root');
    await mkdir(root);
    const debugPort = await freePort();
    const debugUrl = `http://127.0.0.1:${debugPort}`;
    const registry = await startRegistry({
      kind: 'berth',
      rootDirectory: root,
      config: {
        http: { debug: { addr: `127.0.0.1:${debugPort}` } },
        health: { storagedriver: { enabled: true, interval: '100ms', threshold: 2 } },
      },
    });
    try {
      const status = async (url: string) => (await fetch(url)).status;
      assert.equal(await status(`${registry.url}/v2/`), 200);
      await waitUntil('ready', async () => (await status(`${debugUrl}/debug/readyz`)) === 200);

      // A root that loops onto itself: the driver answers with an error, not "not found".
      await rename(root, `${root}.away`);
      await symlink(root, root);
      await waitUntil('503', async () => (await status(`${registry.url}/v2/`)) === 503);
      const body = (await (await fetch(`${registry.url}/v2/`)).json()) as { errors: { code: string; detail: string }[] };
      assert.equal(body.errors[0]!.code, 'UNAVAILABLE');
      assert.equal(body.errors[0]!.detail, 'health check failed: please see /debug/health');
      const health = await fetch(`${debugUrl}/debug/health`);
      assert.equal(health.status, 503);
      assert.deepEqual(Object.keys((await health.json()) as object), ['storagedriver_filesystem']);
      assert.equal(await status(`${debugUrl}/debug/readyz`), 503);
      assert.equal(await status(`${debugUrl}/debug/livez`), 200);

      await unlink(root);
      await rename(`${root}.away`, root);
      await waitUntil('200 again', async () => (await status(`${registry.url}/v2/`)) === 200);
      assert.equal(await status(`${debugUrl}/debug/health`), 200);
    } finally {
      await registry.stop();
      await rm(work, { recursive: true, force: true });
    }
  });
});
