import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TooManyAttemptsError } from '../../src/auth/controller.js';
import { FailureThrottle } from '../../src/auth/throttle.js';

describe('failed-attempt throttle', () => {
  it('allows a few failures, then refuses with a doubling Retry-After; other addresses are unaffected', () => {
    let now = 0;
    const throttle = new FailureThrottle({ freeAttempts: 2, baseDelayMs: 1000, maxDelayMs: 4000, now: () => now });
    throttle.failed('a');
    throttle.failed('a');
    throttle.check('a');
    throttle.failed('a');
    assert.throws(() => throttle.check('a'), (err: unknown) => err instanceof TooManyAttemptsError && err.headers['Retry-After'] === '1');
    throttle.check('b');
    now += 1000;
    throttle.check('a');
    throttle.failed('a');
    assert.throws(() => throttle.check('a'), (err: TooManyAttemptsError) => err.headers['Retry-After'] === '2');
    throttle.failed('a');
    throttle.failed('a');
    assert.throws(() => throttle.check('a'), (err: TooManyAttemptsError) => err.headers['Retry-After'] === '4', 'capped');
  });

  it('a success clears the address', () => {
    const throttle = new FailureThrottle({ freeAttempts: 0 });
    throttle.failed('a');
    assert.throws(() => throttle.check('a'));
    throttle.succeeded('a');
    throttle.check('a');
  });
});
