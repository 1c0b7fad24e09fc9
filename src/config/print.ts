/**
 * The effective configuration as YAML, for `berth config check`: every default filled in, durations back
 * in Go syntax, secrets replaced by `***`. The output loads again as a config file (with the secrets
 * masked, so not as a working one).
 */
import type * as z from 'zod';
import { stringify } from 'yaml';
import { formatDuration } from './duration.js';
import { describe } from './introspect.js';
import { configSchema, type BerthConfig } from './schema.js';

export const MASK = '***';

/** Headers whose values are credentials (e.g. a webhook's `Authorization: [Bearer ...]`). */
const CREDENTIAL_HEADER = /^(authorization|proxy-authorization|cookie|x-api-key)$/i;

/** Parameter names that hold credentials inside free-form sections (drivers not modelled key by key). */
const CREDENTIAL_NAME = /password|secret|token|accountkey|credentials|apikey|licensekey|privatekey/i;

export function formatEffectiveConfig(config: BerthConfig): string {
  return stringify(render(config, configSchema), { lineWidth: 0 });
}

function render(value: unknown, schema: z.ZodType): unknown {
  if (value === undefined) return undefined;
  const structure = describe(schema);
  if (structure.tags.has('secret')) return value === '' ? value : MASK;
  if (structure.tags.has('duration') && typeof value === 'number') return formatDuration(value);
  switch (structure.kind) {
    case 'object':
      return mapEntries(value, (key, child) => {
        const field = structure.fields[key];
        return field ? render(child, field) : maskFreeform(child);
      });
    case 'record':
      if (describe(structure.value).kind === 'any') return maskFreeform(value);
      return mapEntries(value, (key, child) =>
        structure.tags.has('headers') && CREDENTIAL_HEADER.test(key) ? maskAll(child) : render(child, structure.value),
      );
    case 'array':
      return (value as unknown[]).map((item) => render(item, structure.element));
    case 'any':
      return maskFreeform(value);
    case 'leaf':
      return value;
  }
}

function mapEntries(value: unknown, fn: (key: string, child: unknown) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    const rendered = fn(key, child);
    if (rendered !== undefined) out[key] = rendered;
  }
  return out;
}

function maskAll(value: unknown): unknown {
  return Array.isArray(value) ? value.map(() => MASK) : MASK;
}

function maskFreeform(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskFreeform);
  if (typeof value === 'object' && value !== null) {
    return mapEntries(value, (key, child) =>
      CREDENTIAL_NAME.test(key) && child !== null && typeof child !== 'object' && child !== '' ? MASK : maskFreeform(child),
    );
  }
  return value;
}
