/**
 * Reads the structure of the config schema back out of zod, so that the schema stays the one list of keys:
 * the `REGISTRY_*` overlay finds key paths with it, and the printer finds durations and secrets with it.
 */
import type * as z from 'zod';

/** What a leaf or section is, beyond its zod type. */
export type Tag =
  /** Milliseconds in the typed config, Go duration text in YAML. */
  | 'duration'
  /** Masked when the configuration is printed. */
  | 'secret'
  /** A map of HTTP header name → values; values of credential headers are masked when printed. */
  | 'headers'
  /** Free-form values (driver parameters, log fields): any key is accepted. */
  | 'any';

export type Structure =
  | {
      kind: 'object';
      fields: Record<string, z.ZodType>;
      aliases: Record<string, string>;
      /** Set for a mapping that selects one named section (e.g. "storage driver"); its unknown keys are errors. */
      choiceOf?: string;
      tags: Set<Tag>;
    }
  | { kind: 'record'; value: z.ZodType; tags: Set<Tag> }
  | { kind: 'array'; element: z.ZodType; tags: Set<Tag> }
  | { kind: 'any'; tags: Set<Tag> }
  | { kind: 'leaf'; tags: Set<Tag> };

const tagged = new WeakMap<object, Set<Tag>>();
const leaves = new WeakSet<object>();
const keyAliases = new WeakMap<object, Record<string, string>>();
const choices = new WeakMap<object, string>();

export function tag<T extends z.ZodType>(schema: T, ...tags: Tag[]): T {
  tagged.set(schema, new Set([...(tagged.get(schema) ?? []), ...tags]));
  return schema;
}

/** Marks a schema as a scalar, however it is built inside. */
export function markLeaf<T extends z.ZodType>(schema: T): T {
  leaves.add(schema);
  return schema;
}

/**
 * Extra names by which the environment overlay finds a key. Distribution matches variables against its Go
 * field names, which differ from the YAML keys in a few places (`EventConfig` is `events`), so
 * `REGISTRY_NOTIFICATIONS_EVENTCONFIG_INCLUDEREFERENCES` works there and must work here.
 */
export function withAliases<T extends z.ZodType>(schema: T, aliases: Record<string, string>): T {
  keyAliases.set(schema, aliases);
  return schema;
}

/** Marks a mapping whose keys select one of several sections; `what` names the choice in messages. */
export function markChoice<T extends z.ZodType>(schema: T, what: string): T {
  choices.set(schema, what);
  return schema;
}

interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  valueType?: z.ZodType;
  element?: z.ZodType;
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** Unwraps optional/default/pipe layers down to the structure of a schema, gathering tags on the way. */
export function describe(schema: z.ZodType): Structure {
  const tags = new Set<Tag>();
  let aliases: Record<string, string> = {};
  let choiceOf: string | undefined;
  let current = schema;
  for (;;) {
    for (const t of tagged.get(current) ?? []) tags.add(t);
    aliases = keyAliases.get(current) ?? aliases;
    choiceOf = choices.get(current) ?? choiceOf;
    if (tags.has('any')) return { kind: 'any', tags };
    if (leaves.has(current)) return { kind: 'leaf', tags };
    const def = defOf(current);
    switch (def.type) {
      case 'optional':
      case 'default':
      case 'prefault':
      case 'nullable':
        current = def.innerType!;
        break;
      case 'pipe':
        // A preprocess is pipe(transform → schema); a trailing transform is pipe(schema → transform).
        current = defOf(def.in!).type === 'transform' ? def.out! : def.in!;
        break;
      case 'object':
        return { kind: 'object', fields: def.shape!, aliases, tags, ...(choiceOf ? { choiceOf } : {}) };
      case 'record':
        return { kind: 'record', value: def.valueType!, tags };
      case 'array':
        return { kind: 'array', element: def.element!, tags };
      case 'any':
      case 'unknown':
        return { kind: 'any', tags };
      default:
        return { kind: 'leaf', tags };
    }
  }
}

/** The structure at a key path of the schema, or undefined where the path leaves it. */
export function structureAt(schema: z.ZodType, path: readonly PropertyKey[]): Structure | undefined {
  let structure = describe(schema);
  for (const key of path) {
    switch (structure.kind) {
      case 'object': {
        const field = structure.fields[String(key)];
        if (!field) return undefined;
        structure = describe(field);
        break;
      }
      case 'record':
        structure = describe(structure.value);
        break;
      case 'array':
        structure = describe(structure.element);
        break;
      case 'any':
        break;
      case 'leaf':
        return undefined;
    }
  }
  return structure;
}
