import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { digestOf } from '../../src/oci/digest.js';
import { OCI_MANIFEST } from '../../src/oci/mediatypes.js';
import { errorCode, pushBlob, pushImage } from '../http/fixtures.js';
import { startCache, startUpstream, type Cache, type Upstream } from './helpers.js';

interface Layer {
  digest: string;
}

function layersOf(manifest: Buffer): Layer[] {
  const parsed = JSON.parse(manifest.toString('utf8')) as { config: Layer; layers: Layer[] };
  return [parsed.config, ...parsed.layers];
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const response = await fetch(url, { headers: { accept: OCI_MANIFEST, ...headers } });
  return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
}

function blobGets(upstream: Upstream, digest: string): number {
  return upstream.seen.filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${digest}`)).length;
}

describe('pull-through cache', () => {
  let upstream: Upstream;
  let cache: Cache;

  before(async () => {
    upstream = await startUpstream();
    cache = await startCache([{ name: 'hub', url: upstream.url, timeoutMs: 500 }]);
  });
  after(async () => {
    await cache.close();
    await upstream.close();
  });

  it('fetches a tag and its blobs on the first pull and serves them with the upstream down', async () => {
    upstream.mode = 'forward';
    const image = await pushImage(upstream.app, 'library/alpine', '3', { seed: 'alpine' });
    const first = await get(`${cache.url}/v2/hub/library/alpine/manifests/3`);
    assert.equal(first.status, 200);
    assert.deepEqual(first.body, image.bytes);
    assert.equal(first.headers.get('docker-content-digest'), image.digest);
    for (const { digest } of layersOf(image.bytes)) {
      const blob = await get(`${cache.url}/v2/hub/library/alpine/blobs/${digest}`);
      assert.equal(blob.status, 200);
      assert.equal(digestOf(blob.body), digest);
    }
    const counters = { ...cache.proxy.stats.hub! };
    assert.ok(counters.misses >= 3 && counters.upstreamBytes > image.bytes.length, JSON.stringify(counters));

    upstream.mode = '503';
    const again = await get(`${cache.url}/v2/hub/library/alpine/manifests/3`);
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, image.bytes);
    assert.match(again.headers.get('warning') ?? '', /^110 - "Response is Stale: upstream hub: answered 503/);
    assert.ok(cache.log.lines.some((l) => l.level === 'warn' && l.message.includes('serving cached tag')));
    for (const { digest } of layersOf(image.bytes)) {
      const blob = await get(`${cache.url}/v2/hub/library/alpine/blobs/${digest}`);
      assert.equal(blob.status, 200);
      assert.equal(digestOf(blob.body), digest);
    }
    const byDigest = await get(`${cache.url}/v2/hub/library/alpine/manifests/${image.digest}`);
    assert.equal(byDigest.status, 200);
    assert.equal(byDigest.headers.get('warning'), null);
    assert.equal(cache.proxy.stats.hub!.staleServed, counters.staleServed + 1);
    assert.ok(cache.proxy.stats.hub!.hits >= counters.hits + 3);
  });

  it('answers an uncached tag with the upstream error when it says 429, and serves nothing stale', async () => {
    upstream.mode = '429';
    const response = await fetch(`${cache.url}/v2/hub/library/never-pulled/manifests/1`);
    assert.equal(response.status, 429);
    assert.equal(response.headers.get('retry-after'), '7');
    const body = (await response.json()) as { errors: { code: string; detail: { reason: string } }[] };
    assert.equal(body.errors[0]!.code, 'TOOMANYREQUESTS');
    assert.match(body.errors[0]!.detail.reason, /^upstream hub: too many requests \(429\)/);
  });

  it('answers 503 UNAVAILABLE for an uncached tag when the upstream does not answer in time', async () => {
    upstream.mode = 'hang';
    const response = await fetch(`${cache.url}/v2/hub/library/never-pulled/manifests/1`);
    assert.equal(response.status, 503);
    const body = (await response.json()) as { errors: { code: string; detail: { reason: string } }[] };
    assert.equal(body.errors[0]!.code, 'UNAVAILABLE');
    assert.equal(body.errors[0]!.detail.reason, 'upstream hub: timed out');
    upstream.mode = 'forward';
  });

  it('passes on "not found" for what the upstream does not have', async () => {
    upstream.mode = 'forward';
    const manifest = await cache.app.inject({ method: 'GET', url: '/v2/hub/library/missing/manifests/latest' });
    assert.equal(manifest.statusCode, 404);
    assert.equal(errorCode(manifest), 'MANIFEST_UNKNOWN');
    const blob = await cache.app.inject({ method: 'GET', url: `/v2/hub/library/missing/blobs/sha256:${'0'.repeat(64)}` });
    assert.equal(blob.statusCode, 404);
    assert.equal(errorCode(blob), 'BLOB_UNKNOWN');
  });

  it('picks the upstream by containerd\'s ?ns= and caches under its prefix', async () => {
    upstream.mode = 'forward';
    const image = await pushImage(upstream.app, 'library/busybox', 'latest', { seed: 'busybox' });
    const mirrored = await get(`${cache.url}/v2/library/busybox/manifests/latest?ns=${upstream.host}`);
    assert.equal(mirrored.status, 200);
    assert.deepEqual(mirrored.body, image.bytes);
    upstream.mode = '503';
    const local = await get(`${cache.url}/v2/hub/library/busybox/manifests/${image.digest}`);
    assert.equal(local.status, 200);
    upstream.mode = 'forward';
  });

  it('keeps ordinary repositories beside cached namespaces and refuses pushes into the cache', async () => {
    const pushed = await pushImage(cache.app, 'team/app', 'v1', { seed: 'team' });
    const served = await cache.app.inject({ method: 'GET', url: '/v2/team/app/manifests/v1', headers: { accept: OCI_MANIFEST } });
    assert.equal(served.statusCode, 200);
    assert.deepEqual(served.rawPayload, pushed.bytes);
    assert.equal(upstream.seen.some((r) => r.path.includes('team/app')), false);

    const upload = await cache.app.inject({ method: 'POST', url: '/v2/hub/library/alpine/blobs/uploads/' });
    assert.equal(upload.statusCode, 405);
    assert.equal(errorCode(upload), 'UNSUPPORTED');
    const put = await cache.app.inject({
      method: 'PUT',
      url: '/v2/hub/library/alpine/manifests/mine',
      headers: { 'content-type': OCI_MANIFEST },
      payload: pushed.bytes,
    });
    assert.equal(put.statusCode, 405);
    const del = await cache.app.inject({ method: 'DELETE', url: `/v2/hub/library/alpine/manifests/${pushed.digest}` });
    assert.equal(del.statusCode, 405);
  });

  it('shares one upstream GET among concurrent pulls of a missing blob; late joiners get identical bytes', async () => {
    upstream.mode = 'forward';
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const digest = await pushBlob(upstream.app, 'library/big', bytes);
    upstream.holdBlobs = true;
    const url = `${cache.url}/v2/hub/library/big/blobs/${digest}`;
    const early = Array.from({ length: 4 }, () => get(url));
    while (blobGets(upstream, digest) === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    // These join a fill that has already received (and spooled) some bytes.
    const late = Array.from({ length: 4 }, () => get(url));
    await new Promise((resolve) => setTimeout(resolve, 50));
    upstream.holdBlobs = false;
    upstream.releaseBlobs();
    const results = await Promise.all([...early, ...late]);
    for (const result of results) {
      assert.equal(result.status, 200);
      assert.equal(result.body.length, bytes.length);
      assert.equal(digestOf(result.body), digest);
    }
    assert.equal(blobGets(upstream, digest), 1);
    assert.ok(cache.proxy.stats.hub!.coalesced >= 7, JSON.stringify(cache.proxy.stats.hub));
    const ranged = await get(url, { range: 'bytes=10-19' });
    assert.equal(ranged.status, 206);
    assert.deepEqual(ranged.body, bytes.subarray(10, 20));
    assert.equal(blobGets(upstream, digest), 1);
  });

  it('serves a range of a blob that is still being fetched', async () => {
    const bytes = randomBytes(256 * 1024);
    const digest = await pushBlob(upstream.app, 'library/ranged', bytes);
    const ranged = await get(`${cache.url}/v2/hub/library/ranged/blobs/${digest}`, { range: 'bytes=1000-1999' });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.headers.get('content-range'), `bytes 1000-1999/${bytes.length}`);
    assert.deepEqual(ranged.body, bytes.subarray(1000, 2000));
  });

  it('never makes a blob whose bytes do not match its digest visible, and cuts the transfer', async () => {
    const bytes = randomBytes(200 * 1024);
    const digest = await pushBlob(upstream.app, 'library/corrupt', bytes);
    upstream.corruptBlobs = true;
    try {
      await assert.rejects(get(`${cache.url}/v2/hub/library/corrupt/blobs/${digest}`));
    } finally {
      upstream.corruptBlobs = false;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    upstream.mode = '503';
    const after = await cache.app.inject({ method: 'GET', url: `/v2/hub/library/corrupt/blobs/${digest}` });
    assert.equal(after.statusCode, 503);
    upstream.mode = 'forward';
    const good = await get(`${cache.url}/v2/hub/library/corrupt/blobs/${digest}`);
    assert.equal(digestOf(good.body), digest);
  });
});

describe('pull-through cache: tag ttl', () => {
  it('serves a tag from the cache until ttl, without asking upstream, then follows it to the new digest', async () => {
    const upstream = await startUpstream();
    const cache = await startCache([{ name: 'hub', url: upstream.url, ttlMs: 1_000 }]);
    try {
      const v1 = await pushImage(upstream.app, 'app', 'stable', { seed: 'v1' });
      assert.equal((await get(`${cache.url}/v2/hub/app/manifests/stable`)).headers.get('docker-content-digest'), v1.digest);
      const v2 = await pushImage(upstream.app, 'app', 'stable', { seed: 'v2' });
      const asked = upstream.seen.length;
      const early = await get(`${cache.url}/v2/hub/app/manifests/stable`);
      assert.equal(early.headers.get('docker-content-digest'), v1.digest);
      assert.equal(upstream.seen.length, asked, 'a fresh tag is served without an upstream request');
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const late = await get(`${cache.url}/v2/hub/app/manifests/stable`);
      assert.equal(late.headers.get('docker-content-digest'), v2.digest);
      assert.deepEqual(late.body, v2.bytes);
      // An unchanged tag costs one HEAD after ttl, and the cached manifest is kept.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const before = upstream.seen.length;
      assert.equal((await get(`${cache.url}/v2/hub/app/manifests/stable`)).headers.get('docker-content-digest'), v2.digest);
      assert.deepEqual(upstream.seen.slice(before).map((r) => r.method), ['HEAD']);
    } finally {
      await cache.close();
      await upstream.close();
    }
  });
});

describe('pull-through cache: token-protected upstream', () => {
  it('follows the Bearer challenge with basic credentials, reuses the token, and never shows the secrets', async () => {
    const upstream = await startUpstream();
    upstream.auth = { username: 'mirror', password: 's3cret-pass', tokensIssued: 0 };
    const cache = await startCache([{ name: 'private', url: upstream.url, username: 'mirror', password: 's3cret-pass' }]);
    try {
      const image = await pushImage(upstream.app, 'team/tool', 'v1', { seed: 'tool' });
      const manifest = await get(`${cache.url}/v2/private/team/tool/manifests/v1`);
      assert.equal(manifest.status, 200);
      for (const { digest } of layersOf(image.bytes)) {
        const blob = await get(`${cache.url}/v2/private/team/tool/blobs/${digest}`);
        assert.equal(digestOf(blob.body), digest);
      }
      assert.equal(upstream.auth.tokensIssued, 1);
      const tokenRequest = upstream.seen.find((r) => r.path.startsWith('/token'))!;
      assert.match(tokenRequest.path, /scope=repository%3Ateam%2Ftool%3Apull/);

      upstream.auth.password = 'rotated';
      const refused = await fetch(`${cache.url}/v2/private/team/other/manifests/v1`);
      const text = await refused.text();
      assert.equal(refused.status, 403);
      assert.match(text, /DENIED/);
      assert.match(text, /upstream private: its token service refused the configured credentials/);
      for (const secret of ['s3cret-pass', Buffer.from('mirror:s3cret-pass').toString('base64')]) {
        assert.equal(text.includes(secret), false);
        assert.equal(JSON.stringify(cache.log.lines).includes(secret), false);
      }
    } finally {
      await cache.close();
      await upstream.close();
    }
  });
});

describe('pull-through cache: size limit', () => {
  it('evicts the least recently pulled blobs when the cache outgrows maxsize', async () => {
    const upstream = await startUpstream();
    const cache = await startCache([{ name: 'hub', url: upstream.url, maxBytes: 250 * 1024 }]);
    try {
      const blobs = [randomBytes(100 * 1024), randomBytes(100 * 1024), randomBytes(100 * 1024)];
      const digests = [];
      for (const bytes of blobs) digests.push(await pushBlob(upstream.app, 'lib/data', bytes));
      const pull = async (digest: string) => digestOf((await get(`${cache.url}/v2/hub/lib/data/blobs/${digest}`)).body);
      assert.equal(await pull(digests[0]!), digests[0]);
      assert.equal(await pull(digests[1]!), digests[1]);
      assert.equal(await pull(digests[0]!), digests[0]); // now 1 is the least recently pulled
      assert.equal(await pull(digests[2]!), digests[2]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(cache.proxy.stats.hub!.evictedBlobs, 1);
      upstream.mode = '503';
      const served = async (digest: string) => (await cache.app.inject({ method: 'GET', url: `/v2/hub/lib/data/blobs/${digest}` })).statusCode;
      assert.deepEqual([await served(digests[0]!), await served(digests[1]!), await served(digests[2]!)], [200, 503, 200]);
    } finally {
      await cache.close();
      await upstream.close();
    }
  });
});
