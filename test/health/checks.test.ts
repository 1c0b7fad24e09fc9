import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileCheck, HealthChecks, tcpCheck } from '../../src/health/checks.js';

describe('health checks', () => {
  /** Polls rather than sleeping a fixed time, so a loaded machine slows the test instead of failing it. */
  async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) assert.fail('condition not reached in time');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  it('a check fails only after `threshold` failures in a row, and recovers on a success', async () => {
    let healthy = false;
    const changes: number[] = [];
    const health = new HealthChecks({ onChange: (n) => changes.push(n) });
    health.register('flaky', async () => {
      if (!healthy) throw new Error('down');
    }, { intervalMs: 20, threshold: 3 });
    await health.start();
    assert.deepEqual(health.failing(), {}, 'one failure is under the threshold');
    await until(() => 'flaky' in health.failing());
    assert.deepEqual(health.failing(), { flaky: 'down' });
    healthy = true;
    await until(() => !('flaky' in health.failing()));
    assert.deepEqual(changes, [1, 0]);
    health.stop();
  });

  it('the file check fails while the file exists', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-health-'));
    const file = path.join(dir, 'down');
    const check = fileCheck(file);
    await check();
    await writeFile(file, '');
    await assert.rejects(check(), /file exists/);
    await rm(dir, { recursive: true });
  });

  it('the tcp check passes against a listener and fails once it is gone', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const check = tcpCheck(`127.0.0.1:${port}`, 1000);
    await check();
    await new Promise((resolve) => server.close(resolve));
    await assert.rejects(check(), /connection to 127\.0\.0\.1:\d+ failed/);
  });
});
