/**
 * Reads YAML the way Distribution's Go parser (yaml.v2, YAML 1.1) does, into a raw tree for the schema.
 *
 * Go decodes each scalar into the type of the field it lands in: `secret: 0123` is the string "0123" in a
 * string field but the number 83 in an int field. To do the same, plain scalars that YAML 1.1 resolves to
 * a number or boolean are kept as `PlainScalar`, carrying both the resolved value and the source text;
 * each schema field then picks the one its type needs. Quoted scalars and all other plain scalars are
 * strings, `~`/empty values are null, mappings are objects and sequences arrays.
 */
import { isAlias, isMap, isScalar, isSeq, parseDocument, Scalar, type Document, type Node } from 'yaml';

/** An unquoted scalar that YAML 1.1 resolves to a number or boolean (`5000`, `0.1`, `true`, `yes`, `1e3`). */
export class PlainScalar {
  constructor(
    readonly value: number | boolean,
    /** The scalar as written, which is what a string field receives. */
    readonly text: string,
  ) {}
}

/** Parses YAML text into a raw tree; throws an Error with the line and column of a syntax error. */
export function parseYaml(text: string): unknown {
  const doc = parseDocument(text, { version: '1.1', prettyErrors: true });
  if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('\n'));
  return toRaw(doc.contents, doc);
}

function toRaw(node: unknown, doc: Document): unknown {
  if (node === null || node === undefined) return null;
  if (isAlias(node)) return toRaw(node.resolve(doc), doc);
  if (isScalar(node)) return scalarToRaw(node);
  if (isSeq(node)) return node.items.map((item) => toRaw(item, doc));
  if (isMap(node)) {
    const out: Record<string, unknown> = {};
    const merged: unknown[] = [];
    for (const pair of node.items) {
      if (isScalar(pair.key) && typeof pair.key.value === 'symbol') {
        // YAML 1.1 merge key `<<`: its mappings fill in keys the mapping does not set itself.
        const sources = isSeq(pair.value) ? pair.value.items : [pair.value];
        for (const source of sources) merged.push(toRaw(source, doc));
        continue;
      }
      setKey(out, keyText(toRaw(pair.key, doc)), toRaw(pair.value, doc));
    }
    for (const source of merged) {
      if (!isRecord(source)) throw new Error('a merge key (<<) must refer to mappings');
      for (const [key, value] of Object.entries(source)) if (!Object.hasOwn(out, key)) setKey(out, key, value);
    }
    return out;
  }
  throw new Error(`unsupported YAML node ${String((node as Node).constructor?.name)}`);
}

function scalarToRaw(node: Scalar): unknown {
  const value = node.value;
  if (value === null || typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') {
    return new PlainScalar(value, node.source ?? String(value));
  }
  // Timestamps and other tagged scalars: Go reads them as their text when the field is a string.
  return node.source ?? String(value);
}

function keyText(key: unknown): string {
  if (typeof key === 'string') return key;
  if (key instanceof PlainScalar) return key.text;
  if (key === null) return 'null';
  throw new Error('mapping keys must be scalars');
}

/** Sets an own property even for names like `__proto__`, which plain assignment would not create. */
export function setKey(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof PlainScalar);
}

/** The raw tree as ordinary JSON-like values, for free-form sections such as `log.fields`. */
export function plainValue(raw: unknown): unknown {
  if (raw instanceof PlainScalar) return raw.value;
  if (Array.isArray(raw)) return raw.map(plainValue);
  if (isRecord(raw)) {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(raw)) setKey(out, key, plainValue(value));
    return out;
  }
  return raw;
}
