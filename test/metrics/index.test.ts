import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_NAMESPACES, Metrics } from '../../src/metrics/index.js';

describe('Metrics', () => {
  it('labels repositories by namespace and caps the number of distinct labels', () => {
    const metrics = new Metrics({ processMetrics: false });
    assert.equal(metrics.namespaceLabel('team/app'), 'team');
    assert.equal(metrics.namespaceLabel('team/sub/app'), 'team');
    assert.equal(metrics.namespaceLabel('alpine'), '_');
    for (let i = 0; i < MAX_NAMESPACES; i++) metrics.namespaceLabel(`ns${i}/app`);
    assert.equal(metrics.namespaceLabel('late/app'), '_other');
    assert.equal(metrics.namespaceLabel('team/other'), 'team', 'namespaces seen before keep their label');
  });

  it('exposes the Distribution metric names with their help text', async () => {
    const { body, contentType } = await new Metrics({ processMetrics: false }).scrape();
    assert.match(contentType, /^text\/plain/);
    for (const name of [
      'registry_http_requests_total',
      'registry_http_request_duration_seconds',
      'registry_http_request_size_bytes',
      'registry_http_response_size_bytes',
      'registry_http_in_flight_requests',
      'registry_storage_action_seconds',
      'registry_storage_cache_total',
      'registry_notifications_events_total',
      'registry_notifications_pending_total',
      'registry_notifications_status_total',
    ]) {
      assert.match(body, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
  });
});
