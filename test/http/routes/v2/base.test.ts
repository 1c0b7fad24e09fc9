import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newApp } from '../../fixtures.js';

describe('/v2/', () => {
  it('GET answers 200 with an empty JSON object', async () => {
    const { app } = newApp();
    const response = await app.inject({ method: 'GET', url: '/v2/' });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /^application\/json/);
    assert.deepEqual(response.json(), {});
    assert.equal(response.headers['docker-distribution-api-version'], 'registry/2.0');
  });

  it('HEAD answers 200 without a body', async () => {
    const { app } = newApp();
    const response = await app.inject({ method: 'HEAD', url: '/v2/' });
    assert.equal(response.statusCode, 200);
    assert.equal(response.body, '');
  });
});
