/**
 * Stateless replicas: three Berth processes with one config (S3 on Ceph RGW, the Redis blob descriptor
 * cache, the same http.secret) behave as one registry. Clients spread their requests over the replicas by
 * alternating addresses. Berth only: it is what the scale-out deployment of docs/scale-out.md promises.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { requireCommand, skopeo } from '../helpers/clients.js';
import { layoutEntry, makeImage, readBlob, sha256, type BuiltImage } from '../helpers/oci-layout.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry-process.js';
import { testBucket, type TestBucket } from '../helpers/s3.js';

const MiB = 1 << 20;

describe('three Berth replicas on one S3 bucket with Redis', () => {
  let bucket: TestBucket;
  let replicas: RunningRegistry[];
  let work: string;
  const redisPrefix = `berth-test-${randomBytes(6).toString('hex')}:`;

  before(async () => {
    requireCommand('skopeo', 'skopeo');
    work = await mkdtemp(path.join(os.tmpdir(), 'berth-e2e-replicas-'));
    bucket = await testBucket();
    const config = {
      http: { secret: 'one secret for every replica' },
      redis: { addr: '127.0.0.1:6379', keyprefix: redisPrefix },
    };
    const storage = {
      s3: bucket.config({ chunksize: 5 * MiB }),
      delete: { enabled: true },
      cache: { blobdescriptor: 'redis' },
    };
    replicas = await Promise.all([0, 1, 2].map(() => startRegistry({ kind: 'berth', storage, config })));
  });

  after(async () => {
    await Promise.all((replicas ?? []).map((replica) => replica.stop()));
    await bucket?.cleanup();
    const redis = new Redis({ host: '127.0.0.1', port: 6379 });
    const keys = await redis.keys(`${redisPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await rm(work, { recursive: true, force: true });
  });

  test('a chunked upload started on one replica continues on a second and completes on a third', async () => {
    const [a, b, c] = replicas as [RunningRegistry, RunningRegistry, RunningRegistry];
    const blob = randomBytes(13 * MiB + 7);
    const digest = sha256(blob);
    const started = await fetch(`${a.url}/v2/chunked/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(started.status, 202);
    let location = new URL(started.headers.get('location')!, a.url);
    const on = (replica: RunningRegistry) => new URL(`${location.pathname}${location.search}`, replica.url);

    const chunks: [RunningRegistry, number, number][] = [
      [b, 0, 6 * MiB],
      [c, 6 * MiB, 11 * MiB],
    ];
    for (const [replica, start, end] of chunks) {
      const patched = await fetch(on(replica), {
        method: 'PATCH',
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${end - 1}` },
        body: blob.subarray(start, end),
      });
      assert.equal(patched.status, 202, await patched.text());
      assert.equal(patched.headers.get('range'), `0-${end - 1}`);
      location = new URL(patched.headers.get('location')!, replica.url);
    }
    const status = await fetch(on(a));
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${11 * MiB - 1}`);

    const finish = on(c);
    finish.searchParams.set('digest', digest);
    const put = await fetch(finish, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${11 * MiB}-${blob.length - 1}` },
      body: blob.subarray(11 * MiB),
    });
    assert.equal(put.status, 201, await put.text());

    for (const replica of replicas) {
      const head = await fetch(`${replica.url}/v2/chunked/app/blobs/${digest}`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), String(blob.length));
      // GET redirects to a presigned S3 URL, which fetch follows.
      const got = Buffer.from(await (await fetch(`${replica.url}/v2/chunked/app/blobs/${digest}`)).arrayBuffer());
      assert.equal(sha256(got), digest);
    }
  });

  test('a tag pushed or moved through one replica is served by every replica at once', async () => {
    const layout = path.join(work, 'tagged');
    const first = await makeImage({ dir: layout, tag: 'one', layers: [{ size: 400_000 }] });
    const second = await makeImage({ dir: layout, tag: 'two', layers: [{ size: 300_000 }] });
    const [a, b, c] = replicas as [RunningRegistry, RunningRegistry, RunningRegistry];
    const raw = (replica: RunningRegistry) =>
      skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${replica.host}/tagged/app:latest`]);

    await skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:one`, `docker://${a.host}/tagged/app:latest`]);
    for (const replica of [b, c, a]) assert.equal(await raw(replica), first.manifestBytes.toString());

    await skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:two`, `docker://${b.host}/tagged/app:latest`]);
    for (const replica of [a, c, b]) assert.equal(await raw(replica), second.manifestBytes.toString());
  });

  test('killing a replica in the middle of a push storm loses no acknowledged image', async () => {
    const layout = path.join(work, 'storm');
    const count = 12;
    const images: BuiltImage[] = [];
    const base = randomBytes(2 * MiB);
    for (let i = 0; i < count; i++) {
      // A shared base layer (cross-repository mounts and concurrent uploads of the same blob) and an own one.
      images.push(
        await makeImage({ dir: layout, tag: `i${i}`, layers: [{ bytes: base, fileName: 'base' }, { size: 300_000 + i }], seed: `storm-${i}` }),
      );
    }
    const victim = replicas[2]!;
    const acknowledged: number[] = [];
    const failed: number[] = [];
    let next = 0;
    let killing: Promise<unknown> | undefined;
    const pusher = async (): Promise<void> => {
      while (next < count) {
        const i = next++;
        const replica = replicas[i % replicas.length]!;
        try {
          await skopeo(['copy', '--retry-times=0', '--dest-tls-verify=false', `oci:${layout}:i${i}`, `docker://${replica.host}/storm/img${i}:v1`], {
            timeoutMs: 60_000,
          });
          acknowledged.push(i);
        } catch {
          failed.push(i);
        }
        if (acknowledged.length + failed.length === 4) killing ??= victim.killHard();
      }
    };
    await Promise.all([pusher(), pusher(), pusher()]);
    await killing;

    assert.ok(acknowledged.length >= count / 2, `only ${acknowledged.length} of ${count} pushes were acknowledged`);
    const survivors = replicas.slice(0, 2);
    for (const i of acknowledged) {
      const out = path.join(work, `pulled-${i}`);
      const from = survivors[i % survivors.length]!;
      await skopeo(['copy', '--src-tls-verify=false', `docker://${from.host}/storm/img${i}:v1`, `oci:${out}:v1`]);
      const image = images[i]!;
      assert.equal((await layoutEntry(out, 'v1')).digest, image.manifest.digest, `image ${i}`);
      for (const layer of image.layers) assert.equal(sha256(await readBlob(out, layer.digest)), layer.digest);
      assert.equal(sha256(await readBlob(out, image.config.digest)), image.config.digest);
    }
  });
});
