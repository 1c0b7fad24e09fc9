import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventSink, RegistryEvent } from '../../src/events/event.js';
import { digestOf } from '../../src/oci/digest.js';
import { newApp, pushBlob, pushImage } from '../http/fixtures.js';

class MemorySink implements EventSink {
  events: RegistryEvent[] = [];
  async write(event: RegistryEvent) {
    this.events.push(event);
  }
  async close() {}
}

function appWithEvents(includeReferences = false) {
  const sink = new MemorySink();
  const { app } = newApp({ events: { sink, source: { addr: 'test:5000', instanceID: 'i-1' }, includeReferences } });
  return { app, sink };
}

describe('registry events', () => {
  it('a manifest push by tag reports mediaType, size, digest, length, repository, url and tag, with the request', async () => {
    const { app, sink } = appWithEvents();
    const pushed = await pushImage(app, 'team/app', 'v1');
    const event = sink.events.at(-1)!;
    assert.equal(event.action, 'push');
    assert.deepEqual(event.target, {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: pushed.bytes.length,
      digest: pushed.digest,
      length: pushed.bytes.length,
      repository: 'team/app',
      url: `http://localhost:80/v2/team/app/manifests/${pushed.digest}`,
      tag: 'v1',
    });
    assert.equal(event.request.method, 'PUT');
    assert.equal(event.request.host, 'localhost:80');
    assert.deepEqual(event.source, { addr: 'test:5000', instanceID: 'i-1' });
    assert.deepEqual(event.actor, {});
    // The config and layer blobs were pushed first.
    assert.deepEqual(sink.events.map((e) => e.action), ['push', 'push', 'push']);
  });

  it('GETs are pulls and HEADs are not', async () => {
    const { app, sink } = appWithEvents();
    const pushed = await pushImage(app, 'app', 'v1');
    const blob = await pushBlob(app, 'app', 'some bytes');
    sink.events = [];
    await app.inject({ method: 'HEAD', url: '/v2/app/manifests/v1' });
    await app.inject({ method: 'HEAD', url: `/v2/app/blobs/${blob}` });
    assert.equal(sink.events.length, 0);
    await app.inject({ method: 'GET', url: '/v2/app/manifests/v1' });
    await app.inject({ method: 'GET', url: `/v2/app/blobs/${blob}` });
    assert.deepEqual(
      sink.events.map((e) => [e.action, e.target.digest, e.target.tag, e.target.mediaType]),
      [
        ['pull', pushed.digest, 'v1', 'application/vnd.oci.image.manifest.v1+json'],
        ['pull', blob, undefined, 'application/octet-stream'],
      ],
    );
  });

  it('deletes report the digest, or the tag for a tag delete; failures report nothing', async () => {
    const { app, sink } = appWithEvents();
    const pushed = await pushImage(app, 'app', 'v1');
    await pushImage(app, 'app', 'v2', { seed: 'other' });
    sink.events = [];
    assert.equal((await app.inject({ method: 'DELETE', url: '/v2/app/manifests/v2' })).statusCode, 202);
    assert.equal((await app.inject({ method: 'DELETE', url: `/v2/app/manifests/${pushed.digest}` })).statusCode, 202);
    assert.equal((await app.inject({ method: 'GET', url: '/v2/app/manifests/v1' })).statusCode, 404);
    assert.deepEqual(
      sink.events.map((e) => [e.action, e.target]),
      [
        ['delete', { repository: 'app', tag: 'v2' }],
        ['delete', { digest: pushed.digest, repository: 'app' }],
      ],
    );
  });

  it('a cross-repository mount is a mount event naming the source repository', async () => {
    const { app, sink } = appWithEvents();
    const blob = await pushBlob(app, 'from/repo', 'shared layer');
    const response = await app.inject({ method: 'POST', url: `/v2/to/repo/blobs/uploads/?mount=${blob}&from=from/repo` });
    assert.equal(response.statusCode, 201);
    const event = sink.events.at(-1)!;
    assert.equal(event.action, 'mount');
    assert.equal(event.target.repository, 'to/repo');
    assert.equal(event.target.fromRepository, 'from/repo');
    assert.equal(event.target.digest, blob);
  });

  it('includereferences lists the config and layers of a pushed manifest', async () => {
    const { app, sink } = appWithEvents(true);
    const pushed = await pushImage(app, 'app', 'v1');
    const manifest = JSON.parse(pushed.bytes.toString()) as { config: { digest: string }; layers: { digest: string }[] };
    const references = sink.events.at(-1)!.target.references!;
    assert.deepEqual(
      references.map((r) => r.digest),
      [manifest.config.digest, ...manifest.layers.map((l) => l.digest)],
    );
    assert.equal(digestOf(pushed.bytes), pushed.digest);
  });
});
