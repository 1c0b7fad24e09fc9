import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorCode, newApp, pushImage } from '../../fixtures.js';

describe('GET /v2/_catalog', () => {
  it('is an empty list on an empty registry', async () => {
    const { app } = newApp();
    const response = await app.inject({ method: 'GET', url: '/v2/_catalog' });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { repositories: [] });
  });

  it('lists repositories in lexical order, nested names included', async () => {
    const { app } = newApp();
    for (const name of ['zeta', 'alpha/one', 'alpha', 'mid/dle/deep']) await pushImage(app, name, 'latest');
    const response = await app.inject({ method: 'GET', url: '/v2/_catalog' });
    assert.deepEqual(response.json(), { repositories: ['alpha', 'alpha/one', 'mid/dle/deep', 'zeta'] });
    assert.equal(response.headers.link, undefined);
  });

  it('paginates with n and last and a Link to the next page', async () => {
    const { app } = newApp();
    for (const name of ['r1', 'r2', 'r3']) await pushImage(app, name, 'latest');
    const first = await app.inject({ method: 'GET', url: '/v2/_catalog?n=2' });
    assert.deepEqual(first.json(), { repositories: ['r1', 'r2'] });
    assert.equal(first.headers.link, '</v2/_catalog?n=2&last=r2>; rel="next"');
    const second = await app.inject({ method: 'GET', url: '/v2/_catalog?n=2&last=r2' });
    assert.deepEqual(second.json(), { repositories: ['r3'] });
    assert.equal(second.headers.link, undefined);
  });

  it('pages by catalog.maxentries by default, and refuses a larger n', async () => {
    const { app } = newApp({ catalogMaxEntries: 2 });
    for (const name of ['r1', 'r2', 'r3']) await pushImage(app, name, 'latest');
    const response = await app.inject({ method: 'GET', url: '/v2/_catalog' });
    assert.deepEqual(response.json(), { repositories: ['r1', 'r2'] });
    assert.equal(response.headers.link, '</v2/_catalog?n=2&last=r2>; rel="next"');
    const tooMany = await app.inject({ method: 'GET', url: '/v2/_catalog?n=3' });
    assert.equal(tooMany.statusCode, 400);
    assert.equal(errorCode(tooMany), 'PAGINATION_NUMBER_INVALID');
  });

  it('n that is not a non-negative integer is a 400 PAGINATION_NUMBER_INVALID', async () => {
    const { app } = newApp();
    const response = await app.inject({ method: 'GET', url: '/v2/_catalog?n=-5' });
    assert.equal(response.statusCode, 400);
    assert.equal(errorCode(response), 'PAGINATION_NUMBER_INVALID');
  });

  it('n=0 is an empty list', async () => {
    const { app } = newApp();
    await pushImage(app, 'r1', 'latest');
    const response = await app.inject({ method: 'GET', url: '/v2/_catalog?n=0' });
    assert.deepEqual(response.json(), { repositories: [] });
  });
});
