/**
 * The one switch choosing which servers the end-to-end tests run against: `E2E_SERVERS`, a comma-separated
 * list of `berth` and `distribution`. Both by default: the same assertions passing on the reference server
 * show that they test compatibility, not Berth's own habits.
 */
import type { ServerKind } from './registry-process.js';

const KINDS: readonly ServerKind[] = ['berth', 'distribution'];
export const DEFAULT_SERVERS: readonly ServerKind[] = ['berth', 'distribution'];

export function e2eServers(): ServerKind[] {
  const raw = process.env.E2E_SERVERS?.trim();
  if (!raw) return [...DEFAULT_SERVERS];
  const kinds = raw.split(',').map((kind) => kind.trim()).filter((kind) => kind !== '');
  for (const kind of kinds) {
    if (!KINDS.includes(kind as ServerKind)) {
      throw new Error(`E2E_SERVERS: unknown server ${JSON.stringify(kind)} (expected ${KINDS.join(', ')})`);
    }
  }
  return [...new Set(kinds)] as ServerKind[];
}
