import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseDuration } from '../../src/config/duration.js';

describe('parseDuration', () => {
  it('reads Go duration syntax into milliseconds', () => {
    assert.equal(parseDuration('300ms'), 300);
    assert.equal(parseDuration('10s'), 10_000);
    assert.equal(parseDuration('1.5h'), 5_400_000);
    assert.equal(parseDuration('168h'), 604_800_000);
    assert.equal(parseDuration('2h45m'), 9_900_000);
    assert.equal(parseDuration('1m30.5s'), 90_500);
    assert.equal(parseDuration('.5s'), 500);
    assert.equal(parseDuration('-1s'), -1000);
  });

  it('reads sub-millisecond units, both spellings of micro included', () => {
    assert.equal(parseDuration('1500us'), 1.5);
    assert.equal(parseDuration('2µs'), 0.002);
    assert.equal(parseDuration('2μs'), 0.002);
    assert.equal(parseDuration('1000000ns'), 1);
  });

  it('accepts a lone 0 but no other number without a unit', () => {
    assert.equal(parseDuration('0'), 0);
    assert.throws(() => parseDuration('10'), /invalid duration "10" \(expected e\.g\. 168h, 30m\)/);
  });

  it('rejects unknown units, empty text, stray spaces and a bare dot', () => {
    for (const bad of ['3x', '', '1h ', ' 1h', '.s', 'h', '1d', '1.2.3s']) {
      assert.throws(() => parseDuration(bad), new RegExp(`invalid duration ${JSON.stringify(bad).replace(/\./g, '\\.')}`));
    }
  });
});

describe('formatDuration', () => {
  it('writes compact Go syntax that parses back to the same value', () => {
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(604_800_000), '168h');
    assert.equal(formatDuration(5_400_000), '1h30m');
    assert.equal(formatDuration(300), '300ms');
    for (const ms of [1.5, 90_500, 86_400_000, 0.002, 1]) assert.equal(parseDuration(formatDuration(ms)), ms);
  });
});
