import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { digestOf } from '../../../src/oci/digest.js';
import { InMemoryBlobDescriptorCache } from '../../../src/registry/cache/memory.js';

describe('InMemoryBlobDescriptorCache', () => {
  const a = digestOf(Buffer.from('a'));
  const b = digestOf(Buffer.from('b'));

  it('forgets entries once their TTL has passed', async () => {
    let now = 1_000;
    const cache = new InMemoryBlobDescriptorCache({ ttlMs: 500, now: () => now });
    await cache.set('repo', { digest: a, size: 1 });
    now += 499;
    assert.deepEqual(await cache.get('repo', a), { digest: a, size: 1 });
    now += 1;
    assert.equal(await cache.get('repo', a), undefined);
  });

  it('keeps at most `size` entries, dropping the least recently used', async () => {
    const cache = new InMemoryBlobDescriptorCache({ ttlMs: 60_000, size: 2 });
    const c = digestOf(Buffer.from('c'));
    await cache.set('repo', { digest: a, size: 1 });
    await cache.set('repo', { digest: b, size: 1 });
    assert.ok(await cache.get('repo', a)); // a is now the most recent
    await cache.set('repo', { digest: c, size: 1 });
    assert.ok(await cache.get('repo', a));
    assert.equal(await cache.get('repo', b), undefined);
    assert.ok(await cache.get('repo', c));
  });

  it('unlink forgets one repository, deleteBlob every one', async () => {
    const cache = new InMemoryBlobDescriptorCache({ ttlMs: 60_000 });
    await cache.set('one', { digest: a, size: 1 });
    await cache.set('two', { digest: a, size: 1 });
    await cache.unlink('one', a);
    assert.equal(await cache.get('one', a), undefined);
    assert.ok(await cache.get('two', a));
    await cache.deleteBlob(a);
    assert.equal(await cache.get('two', a), undefined);
  });
});
