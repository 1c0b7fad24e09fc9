/**
 * The `REGISTRY_*` environment overlay, as Distribution's `configuration/parser.go` does it.
 *
 * `REGISTRY_<A>_<B>_<C>=value` sets key `a.b.c`: the name after the prefix is split on `_` and each part is
 * matched case-insensitively against the schema's keys (YAML keys never contain `_` for this reason). Where
 * the schema has a free-form map (driver parameters, header names, log fields) a part that matches no
 * existing key adds a lowercase one, and a list takes a numeric index, which may be one past its end to
 * append. The value is read as YAML, so `true`, `5`, `[a, b]` and `{k: v}` have their YAML types; setting a
 * mapping key replaces the whole mapping (`REGISTRY_STORAGE=inmemory` replaces the storage section).
 *
 * Variables are applied in sorted name order so that parents come before children:
 * `REGISTRY_STORAGE=s3` first, then `REGISTRY_STORAGE_S3_BUCKET=b` fills in the section it created.
 * A variable that names no key is ignored with a warning, as in Distribution.
 */
import type * as z from 'zod';
import { keyPath } from './errors.js';
import { describe, type Structure } from './introspect.js';
import { isRecord, parseYaml, setKey } from './yaml.js';

const PREFIX = 'REGISTRY_';
/** Variables with the prefix that choose the configuration rather than set a key in it. */
const NOT_KEYS = new Set(['REGISTRY_CONFIGURATION_PATH']);

export interface EnvOverlay {
  warnings: string[];
  /** Variables that cannot be applied: bad YAML, bad list index. */
  problems: string[];
  /** Key path (as `keyPath` writes it) → the variable that set it, to name the variable in errors. */
  origins: Map<string, string>;
}

type Container = Record<string, unknown> | unknown[];

/** Applies the `REGISTRY_*` variables of `env` to the raw tree `root` in place. */
export function applyEnvOverlay(root: Record<string, unknown>, env: NodeJS.ProcessEnv, schema: z.ZodType): EnvOverlay {
  const result: EnvOverlay = { warnings: [], problems: [], origins: new Map() };
  const names = Object.keys(env)
    .filter((name) => name.toUpperCase().startsWith(PREFIX) && !NOT_KEYS.has(name.toUpperCase()))
    .sort();
  for (const name of names) {
    const parts = name.slice(PREFIX.length).split('_');
    const resolved = resolve(root, schema, parts);
    if (typeof resolved === 'string') {
      if (resolved === '') result.warnings.push(`${name}: no such configuration key; ignored`);
      else result.problems.push(`${name}: ${resolved}`);
      continue;
    }
    let value: unknown;
    try {
      value = parseYaml(env[name] ?? '');
    } catch (error) {
      result.problems.push(`${name}: cannot read the value as YAML: ${(error as Error).message}`);
      continue;
    }
    assign(root, resolved, value);
    result.origins.set(keyPath(resolved.map((step) => step.key)), name);
  }
  return result;
}

interface Step {
  key: string | number;
  /** Structure of the value at this key, to create it when absent. */
  structure: Structure;
}

/**
 * Finds the key path a variable names without touching the tree, so an ignored variable creates nothing.
 * Returns '' when the variable names no key, or a message when it cannot be applied.
 */
function resolve(root: Record<string, unknown>, schema: z.ZodType, parts: string[]): Step[] | string {
  const steps: Step[] = [];
  let structure = describe(schema);
  let node: unknown = root;
  for (const part of parts) {
    let key: string | number;
    let next: Structure;
    switch (structure.kind) {
      case 'object': {
        const lower = part.toLowerCase();
        const field = Object.keys(structure.fields).find((k) => k.toLowerCase() === lower) ?? structure.aliases[lower];
        if (field === undefined) return '';
        key = field;
        next = describe(structure.fields[field]!);
        break;
      }
      case 'record':
      case 'any': {
        const existing = isRecord(node) ? Object.keys(node).find((k) => k.toUpperCase() === part.toUpperCase()) : undefined;
        key = existing ?? part.toLowerCase();
        next = structure.kind === 'record' ? describe(structure.value) : structure;
        break;
      }
      case 'array': {
        if (!/^\d+$/.test(part)) return `${JSON.stringify(part)} is not a list index`;
        const length = Array.isArray(node) ? node.length : 0;
        key = Number(part);
        if (key > length) return `list index ${key} is past the end of the list (${length} items)`;
        next = describe(structure.element);
        break;
      }
      case 'leaf':
        return '';
    }
    steps.push({ key, structure: next });
    structure = next;
    node = isRecord(node) || Array.isArray(node) ? (node as Record<string | number, unknown>)[key] : undefined;
  }
  return steps;
}

function assign(root: Record<string, unknown>, steps: Step[], value: unknown): void {
  let container: Container = root;
  steps.forEach((step, index) => {
    if (index === steps.length - 1) {
      put(container, step.key, value);
      return;
    }
    const existing = (container as Record<string | number, unknown>)[step.key];
    const child = containerFor(existing, step.structure);
    put(container, step.key, child);
    container = child;
  });
}

/** The existing value if it can hold children, else a new empty one of the right kind. */
function containerFor(existing: unknown, structure: Structure): Container {
  if (structure.kind === 'array') return Array.isArray(existing) ? existing : [];
  if (isRecord(existing)) return existing;
  // `storage: inmemory` is shorthand for `storage: {inmemory: {}}`; keep the choice when children are added.
  if (typeof existing === 'string' && structure.kind === 'object' && Object.hasOwn(structure.fields, existing)) {
    return { [existing]: {} };
  }
  return {};
}

function put(container: Container, key: string | number, value: unknown): void {
  if (Array.isArray(container)) container[key as number] = value;
  else setKey(container, String(key), value);
}
