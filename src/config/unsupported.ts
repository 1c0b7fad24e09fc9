/**
 * Options Berth reads and validates but does not implement yet. Setting one stops start-up with
 * `not supported yet: <key path>` rather than silently running a registry that ignores it (an ignored
 * `auth` section would serve everything to everyone). Work that implements an option removes its entry
 * here and from the "Not supported yet" section of docs/configuration.md.
 */
import type { BerthConfig } from './schema.js';

export interface PendingOption {
  /** Key path as written in config.yml, as it appears in the error. */
  readonly path: string;
  /** Whether the configuration asks for the option, judged as Distribution does (e.g. proxy needs remoteurl). */
  readonly isSet: (config: BerthConfig) => boolean;
}

const defined = (value: unknown): boolean => value !== undefined;

export const NOT_SUPPORTED_YET: readonly PendingOption[] = [
  { path: 'http.tls.letsencrypt', isSet: (c) => defined(c.http.tls.letsencrypt.cachefile) },
  { path: 'storage.azure', isSet: (c) => defined(c.storage.azure) },
  { path: 'storage.gcs', isSet: (c) => defined(c.storage.gcs) },
  { path: 'storage.swift', isSet: (c) => defined(c.storage.swift) },
  { path: 'storage.oss', isSet: (c) => defined(c.storage.oss) },
  ...(['registry', 'repository', 'storage'] as const).map((point) => ({
    path: `middleware.${point}`,
    isSet: (c: BerthConfig) => c.middleware[point].some((m) => !m.disabled),
  })),
  { path: 'log.hooks', isSet: (c) => c.log.hooks.some((h) => !h.disabled) },
  { path: 'reporting.bugsnag', isSet: (c) => defined(c.reporting.bugsnag.apikey) },
  { path: 'reporting.newrelic', isSet: (c) => defined(c.reporting.newrelic.licensekey) },
  { path: 'compatibility.schema1', isSet: (c) => c.compatibility.schema1.enabled },
  { path: 'policy.repository.classes', isSet: (c) => c.policy.repository.classes.length > 0 },
];

/** `not supported yet: <path>` for each pending option the configuration sets. */
export function unsupportedOptions(config: BerthConfig): string[] {
  return NOT_SUPPORTED_YET.filter((option) => option.isSet(config)).map((o) => `not supported yet: ${o.path}`);
}
