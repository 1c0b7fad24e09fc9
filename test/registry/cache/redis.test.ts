import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { digestOf } from '../../../src/oci/digest.js';
import { RedisBlobDescriptorCache } from '../../../src/registry/cache/redis.js';

// The machine's Redis on 127.0.0.1:6379, shared with other tests: every key here starts with a random prefix.
describe('RedisBlobDescriptorCache on a real Redis', () => {
  const prefix = `berth-test-${randomBytes(6).toString('hex')}:`;
  let redis: Redis;
  let replicaRedis: Redis;
  const digest = digestOf(Buffer.from('a layer'));

  before(() => {
    redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: false });
    replicaRedis = new Redis({ host: '127.0.0.1', port: 6379 });
  });

  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    replicaRedis.disconnect();
  });

  it('answers a descriptor only for a repository it was recorded for', async () => {
    const cache = new RedisBlobDescriptorCache(redis, { ttlMs: 60_000, prefix });
    assert.equal(await cache.get('team/app', digest), undefined);
    await cache.set('team/app', { digest, size: 7 });
    assert.deepEqual(await cache.get('team/app', digest), { digest, size: 7 });
    assert.equal(await cache.get('team/other', digest), undefined);
  });

  it('is shared by replicas: an unlink on one is seen by the other at once', async () => {
    const one = new RedisBlobDescriptorCache(redis, { ttlMs: 60_000, prefix });
    const two = new RedisBlobDescriptorCache(replicaRedis, { ttlMs: 60_000, prefix });
    await one.set('shared/repo', { digest, size: 7 });
    await one.set('shared/kept', { digest, size: 7 });
    assert.deepEqual(await two.get('shared/repo', digest), { digest, size: 7 });
    await two.unlink('shared/repo', digest);
    assert.equal(await one.get('shared/repo', digest), undefined);
    assert.deepEqual(await one.get('shared/kept', digest), { digest, size: 7 }, 'other repositories keep the blob');
  });

  it('deleteBlob forgets the blob in every repository', async () => {
    const cache = new RedisBlobDescriptorCache(redis, { ttlMs: 60_000, prefix });
    await cache.set('gc/one', { digest, size: 7 });
    await cache.set('gc/two', { digest, size: 7 });
    await cache.deleteBlob(digest);
    assert.equal(await cache.get('gc/one', digest), undefined);
    assert.equal(await cache.get('gc/two', digest), undefined);
  });

  it('writes every key with the TTL, so a missed invalidation ends', async () => {
    const cache = new RedisBlobDescriptorCache(redis, { ttlMs: 90_000, prefix });
    await cache.set('ttl/repo', { digest, size: 7 });
    const keys = await redis.keys(`${prefix}*ttl/repo*`);
    keys.push(`${prefix}blob:${digest}`);
    for (const key of keys) {
      const ttl = await redis.ttl(key);
      assert.ok(ttl > 0 && ttl <= 90, `${key} has TTL ${ttl}`);
    }
  });

  it('reads nothing from a foreign or damaged size entry', async () => {
    const cache = new RedisBlobDescriptorCache(redis, { ttlMs: 60_000, prefix });
    await cache.set('bad/repo', { digest, size: 7 });
    await redis.set(`${prefix}blob:${digest}`, 'not a number');
    assert.equal(await cache.get('bad/repo', digest), undefined);
  });
});
