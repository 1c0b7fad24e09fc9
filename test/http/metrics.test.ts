import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { handlerName } from '../../src/http/metrics.js';
import { Metrics } from '../../src/metrics/index.js';
import { newApp } from './fixtures.js';

describe('HTTP metrics', () => {
  it('names routes as Distribution does', () => {
    assert.equal(handlerName('/v2/', ''), 'base');
    assert.equal(handlerName('/v2/_catalog?n=1', ''), 'catalog');
    assert.equal(handlerName('/v2/a/b/tags/list', ''), 'tags');
    assert.equal(handlerName('/v2/a/manifests/latest', ''), 'manifest');
    assert.equal(handlerName('/v2/a/blobs/sha256:00', ''), 'blob');
    assert.equal(handlerName('/v2/a/blobs/uploads/', ''), 'blob_upload');
    assert.equal(handlerName('/v2/a/blobs/uploads/some-id', ''), 'blob_upload_chunk');
    assert.equal(handlerName('/v2/a/referrers/sha256:00', ''), 'referrers');
    assert.equal(handlerName('/registry/v2/a/manifests/x', '/registry'), 'manifest');
    assert.equal(handlerName('/v2/a/manifests/x', '/registry'), undefined);
    assert.equal(handlerName('/metrics', ''), undefined);
  });

  it('counts requests by handler, code and lower-case method, and 401/403 as auth failures', async () => {
    const metrics = new Metrics({ processMetrics: false });
    const { app } = newApp({ metrics });
    await app.inject({ method: 'GET', url: '/v2/' });
    await app.inject({ method: 'GET', url: '/v2/missing/manifests/latest' });
    const text = (await metrics.scrape()).body;
    assert.match(text, /^registry_http_requests_total\{handler="base",code="200",method="get"\} 1$/m);
    assert.match(text, /^registry_http_requests_total\{handler="manifest",code="404",method="get"\} 1$/m);
    assert.match(text, /^registry_http_in_flight_requests\{handler="manifest"\} 0$/m);
    assert.doesNotMatch(text, /^berth_auth_failures_total\{/m);
  });
});
