/**
 * Loading the configuration: pick the source, read its YAML, apply the `REGISTRY_*` overlay, validate
 * against the schema, and refuse options that are not supported yet.
 *
 * Unknown keys and variables are warnings (a newer Distribution config still loads); a bad value, two
 * storage drivers or a pending option is a `ConfigError` listing every problem with its key path.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type * as z from 'zod';
import { applyEnvOverlay } from './env.js';
import { ConfigError, keyPath } from './errors.js';
import { show } from './fields.js';
import { structureAt } from './introspect.js';
import { configSchema, type BerthConfig } from './schema.js';
import { unsupportedOptions } from './unsupported.js';
import { isRecord, parseYaml } from './yaml.js';

export { ConfigError } from './errors.js';

export interface LoadOptions {
  /** Config file to read; overrides `REGISTRY_CONFIGURATION_PATH`, as the argument of `registry serve` does. */
  path?: string;
  /** Environment holding `REGISTRY_*` overrides; defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** YAML to use instead of reading a file (`path`, if given, then only names the source). */
  yamlText?: string;
}

export interface LoadedConfig {
  config: BerthConfig;
  warnings: string[];
  /** The file read (absolute), `inline text`, or `built-in defaults` when there is no file. */
  source: string;
}

export const DEFAULTS_SOURCE = 'built-in defaults';

/** Zero-setup configuration: a filesystem registry under ./data listening on :5000. */
function defaultRaw(): Record<string, unknown> {
  return { version: '0.1', storage: { filesystem: { rootdirectory: 'data' } }, http: { addr: ':5000' } };
}

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const { raw, source } = readSource(options, env);
  if (!isRecord(raw)) {
    throw new ConfigError(source, [`expected a mapping of keys starting with "version: 0.1", got ${show(raw)}`]);
  }
  const warnings: string[] = [];
  const overlay = applyEnvOverlay(raw, env, configSchema);
  warnings.push(...overlay.warnings);
  if (overlay.problems.length > 0) throw new ConfigError(source, overlay.problems, warnings);

  const config = validate(raw, source, overlay.origins, warnings);
  if (config.storage.filesystem) {
    config.storage.filesystem.rootdirectory = path.resolve(config.storage.filesystem.rootdirectory);
  }
  if (raw.loglevel !== undefined) warnings.push('loglevel: deprecated, use log.level');
  if (config.validation.enabled !== undefined) warnings.push('validation.enabled: deprecated and ignored, use validation.disabled');
  if (config.storage.cache.layerinfo !== undefined) {
    warnings.push('storage.cache.layerinfo: deprecated, use storage.cache.blobdescriptor');
    config.storage.cache.blobdescriptor ??= config.storage.cache.layerinfo;
  }

  const unsupported = unsupportedOptions(config);
  if (unsupported.length > 0) throw new ConfigError(source, unsupported, warnings);
  return { config, warnings, source };
}

function readSource(options: LoadOptions, env: NodeJS.ProcessEnv): { raw: unknown; source: string } {
  if (options.yamlText !== undefined) {
    const source = options.path ?? 'inline text';
    return { raw: parseOrThrow(options.yamlText, source), source };
  }
  const file = options.path ?? (env.REGISTRY_CONFIGURATION_PATH || undefined);
  if (file === undefined) return { raw: defaultRaw(), source: DEFAULTS_SOURCE };
  const source = path.resolve(file);
  let text: string;
  try {
    text = readFileSync(source, 'utf8');
  } catch (error) {
    throw new ConfigError(source, [`cannot read the configuration file: ${(error as Error).message}`]);
  }
  return { raw: parseOrThrow(text, source), source };
}

function parseOrThrow(text: string, source: string): unknown {
  try {
    return parseYaml(text);
  } catch (error) {
    throw new ConfigError(source, [`invalid YAML: ${(error as Error).message}`]);
  }
}

/** Parses with the schema; unknown keys become warnings and are dropped, then the rest must be valid. */
function validate(raw: Record<string, unknown>, source: string, origins: Map<string, string>, warnings: string[]): BerthConfig {
  for (let pass = 0; pass < 2; pass++) {
    const result = configSchema.safeParse(raw, { reportInput: true });
    if (result.success) return result.data;
    const problems: string[] = [];
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        const parent = structureAt(configSchema, issue.path);
        if (parent?.kind === 'object' && parent.choiceOf) {
          const expected = Object.keys(parent.fields).join(', ');
          for (const key of issue.keys) {
            const where = keyPath([...issue.path, key]);
            problems.push(`${where}: unknown ${parent.choiceOf} ${JSON.stringify(key)} (expected one of ${expected})`);
          }
          continue;
        }
        for (const key of issue.keys) {
          warnings.push(`${keyPath([...issue.path, key])}: unknown key; ignored`);
          removeKey(raw, [...issue.path, key]);
        }
      } else {
        problems.push(describeIssue(issue, origins));
      }
    }
    if (problems.length > 0) throw new ConfigError(source, problems, warnings);
  }
  throw new Error('configuration still invalid after dropping unknown keys');
}

function removeKey(root: unknown, keys: readonly PropertyKey[]): void {
  let node = root;
  for (const key of keys.slice(0, -1)) {
    if (!isRecord(node) && !Array.isArray(node)) return;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  if (isRecord(node)) delete node[String(keys[keys.length - 1])];
}

const EXPECTED: Record<string, string> = { object: 'a mapping', record: 'a mapping', array: 'a list' };

function describeIssue(issue: z.core.$ZodIssue, origins: Map<string, string>): string {
  const where = keyPath(issue.path);
  let message = issue.message;
  if (issue.code === 'invalid_type') {
    message =
      issue.input === undefined
        ? 'required'
        : `expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${show(issue.input)}`;
  }
  const variable = [...origins]
    .filter(([key]) => where === key || where.startsWith(`${key}.`) || where.startsWith(`${key}[`))
    .sort(([a], [b]) => b.length - a.length)[0];
  const from = variable ? ` (set by ${variable[1]})` : '';
  return where === '' ? `${message}${from}` : `${where}: ${message}${from}`;
}
