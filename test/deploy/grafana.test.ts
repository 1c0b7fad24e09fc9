import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Metrics } from '../../src/metrics/index.js';

const DASHBOARD = fileURLToPath(new URL('../../../deploy/grafana/berth-registry.json', import.meta.url));

describe('deploy/grafana dashboard', () => {
  it('queries only metrics that Berth exports', async () => {
    const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const exported = new Set(
      (await new Metrics().registry.getMetricsAsJSON()).flatMap((m) =>
        String(m.type) === 'histogram' ? [`${m.name}_bucket`, `${m.name}_count`, `${m.name}_sum`] : [m.name],
      ),
    );
    const queried = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => [...t.expr.matchAll(/\b((?:registry|berth|process|nodejs)_[a-z_]+)\{/g)].map((m) => m[1]!)));
    assert.ok(queried.length > 10);
    for (const name of queried) assert.ok(exported.has(name), `${name} is not exported`);
  });
});
