/**
 * Building blocks of the config schema. Each scalar field converts the raw YAML value (see `yaml.ts`) the
 * way Go's yaml.v2 decodes into the field's type, and explains a bad value in words a user can act on.
 *
 * Sections are strict (unknown keys are reported, then warned about by the loader) and drop null values,
 * because in Go a key written with nothing after it (`secret:`) leaves the field at its zero value.
 */
import * as z from 'zod';
import { parseDuration } from './duration.js';
import { markChoice, markLeaf, tag } from './introspect.js';
import { isRecord, plainValue, PlainScalar } from './yaml.js';

class Invalid {
  constructor(readonly message: string) {}
}

/** How a raw value reads in an error message. */
export function show(raw: unknown): string {
  if (raw instanceof PlainScalar) return raw.text;
  if (typeof raw === 'string') return JSON.stringify(raw);
  if (raw === null || raw === undefined) return 'nothing';
  if (Array.isArray(raw)) return 'a list';
  if (typeof raw === 'object') return 'a mapping';
  return String(raw);
}

function leaf<T>(convert: (raw: unknown) => T | Invalid) {
  return markLeaf(
    z.unknown().transform((raw, ctx): T => {
      const result = raw === undefined ? new Invalid('required') : convert(raw);
      if (result instanceof Invalid) {
        ctx.issues.push({ code: 'custom', message: result.message, input: raw });
        return z.NEVER;
      }
      return result;
    }),
  );
}

function text(raw: unknown): string | undefined {
  if (typeof raw === 'string') return raw;
  if (raw instanceof PlainScalar) return raw.text;
  return undefined;
}

export function str() {
  return leaf((raw) => text(raw) ?? new Invalid(`expected a string, got ${show(raw)}`));
}

/** A string that `berth config check` prints as `***`. */
export function secret() {
  return tag(str(), 'secret');
}

export function bool() {
  return leaf((raw) => {
    if (raw instanceof PlainScalar && typeof raw.value === 'boolean') return raw.value;
    if (typeof raw === 'boolean') return raw;
    // Quoted "true"/"false" are strings to Go, but the intent is plain and storage drivers accept them.
    if (raw === 'true' || raw === 'false') return raw === 'true';
    return new Invalid(`expected true or false, got ${show(raw)}`);
  });
}

function wholeNumber(raw: unknown, options: { min?: number }, expected = 'a whole number'): number | Invalid {
  let value: number | undefined;
  if (raw instanceof PlainScalar && typeof raw.value === 'number') value = raw.value;
  else if (typeof raw === 'number') value = raw;
  else if (typeof raw === 'string' && /^-?\d+$/.test(raw)) value = Number(raw);
  if (value === undefined || !Number.isSafeInteger(value)) return new Invalid(`expected ${expected}, got ${show(raw)}`);
  if (options.min !== undefined && value < options.min) return new Invalid(`must be at least ${options.min}, got ${value}`);
  return value;
}

export function int(options: { min?: number } = {}) {
  return leaf((raw) => wholeNumber(raw, options));
}

/** A count of at least 1, or `auto` (the caller decides what auto means, e.g. one per core). */
export function countOrAuto() {
  return leaf((raw): number | 'auto' | Invalid => (text(raw) === 'auto' ? 'auto' : wholeNumber(raw, { min: 1 }, 'a whole number or auto')));
}

function durationOf(raw: unknown, allowNanoseconds: boolean): number | Invalid {
  let ms: number;
  if (typeof raw === 'string') {
    try {
      ms = parseDuration(raw);
    } catch (error) {
      return new Invalid((error as Error).message);
    }
  } else if (allowNanoseconds && raw instanceof PlainScalar && Number.isInteger(raw.value)) {
    // Go decodes a bare integer into a time.Duration as nanoseconds.
    ms = (raw.value as number) / 1e6;
  } else {
    const hint = allowNanoseconds ? '' : ' (a bare number is not accepted here)';
    return new Invalid(`expected a duration such as 168h or 30m, got ${show(raw)}${hint}`);
  }
  if (ms < 0) return new Invalid(`must not be negative, got ${show(raw)}`);
  return ms;
}

/** A Go duration, kept as milliseconds. A bare integer counts as nanoseconds, as in Distribution's typed fields. */
export function duration() {
  return tag(leaf((raw) => durationOf(raw, true)), 'duration');
}

/**
 * A Go duration that must be written as text. Distribution reads some durations from untyped maps
 * (`storage.maintenance.uploadpurging`) and rejects numbers there; `age: 168` would be 168ns otherwise.
 */
export function durationText(options: { positive?: boolean } = {}) {
  return tag(
    leaf((raw) => {
      const ms = durationOf(raw, false);
      return options.positive && ms === 0 ? new Invalid(`must be longer than 0s, got ${show(raw)}`) : ms;
    }),
    'duration',
  );
}

/** Milliseconds for a `.default()` written the way the docs write it. */
export const ms = (goDuration: string): number => parseDuration(goDuration);

export function oneOf<const V extends string>(values: readonly V[], options: { ignoreCase?: boolean } = {}) {
  return leaf((raw): V | Invalid => {
    const given = text(raw);
    const value = options.ignoreCase ? given?.toLowerCase() : given;
    if (value !== undefined && (values as readonly string[]).includes(value)) return value as V;
    return new Invalid(`expected one of ${values.join(', ')}, got ${show(raw)}`);
  });
}

export function url() {
  return leaf((raw) => {
    const value = text(raw);
    if (value === undefined) return new Invalid(`expected a URL, got ${show(raw)}`);
    try {
      const parsed = new URL(value);
      if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return value;
    } catch {
      // fall through to the message below
    }
    return new Invalid(`expected an http:// or https:// URL, got ${show(raw)}`);
  });
}

/** A regular expression, checked when the config loads rather than on the first request that needs it. */
export function pattern() {
  return leaf((raw) => {
    const value = text(raw);
    if (value === undefined) return new Invalid(`expected a regular expression, got ${show(raw)}`);
    try {
      new RegExp(value);
      return value;
    } catch (error) {
      return new Invalid(`invalid regular expression ${JSON.stringify(value)}: ${(error as Error).message}`);
    }
  });
}

/** Values of any shape, as plain JSON-like data (driver parameters, log fields, middleware options). */
export function freeform() {
  return tag(leaf((raw) => plainValue(raw)), 'any');
}

/** A list; a single scalar counts as a one-item list, and an empty value as an empty list. */
export function list<T extends z.ZodType>(item: T) {
  return z.preprocess((raw) => (raw === null ? [] : Array.isArray(raw) || isRecord(raw) ? raw : [raw]), z.array(item));
}

/** A mapping from free-chosen names (header names, middleware injection points) to values. */
export function map<T extends z.ZodType>(value: T) {
  return z.preprocess((raw) => (raw === null ? {} : raw), z.record(z.string(), value));
}

/** HTTP headers as in Go's `http.Header`: name → list of values. */
export function headers() {
  return tag(map(list(str())), 'headers');
}

/** A mapping with known keys. Absent, it is left out (use `group` for one that always exists). */
export function section<S extends z.core.$ZodLooseShape>(shape: S) {
  // Known keys with no value fall back to their defaults; unknown ones stay, to be reported.
  const dropNulls = (raw: unknown): unknown => {
    if (raw === null || raw === undefined) return {};
    if (!isRecord(raw)) return raw;
    return Object.fromEntries(Object.entries(raw).filter(([key, value]) => value !== null || !Object.hasOwn(shape, key)));
  };
  return z.preprocess(dropNulls, z.strictObject(shape));
}

/** A mapping with known keys whose defaults apply even when the mapping is absent. */
export function group<S extends z.core.$ZodLooseShape>(shape: S) {
  return section(shape).prefault({});
}

/**
 * A mapping that selects one of several named sections, like Distribution's `storage` (one driver) and
 * `auth` (one access controller): `storage: inmemory` selects a driver with no parameters, and so does
 * `inmemory:` with an empty value. The loader reports an unknown key here as an error rather than a
 * warning, because Distribution takes it for another driver (a typo such as `delet:` stops it too).
 */
export function choice<C extends z.core.$ZodLooseShape, O extends z.core.$ZodLooseShape>(
  what: string,
  choices: C,
  options: O,
  { required }: { required: boolean },
) {
  const names = Object.keys(choices);
  const normalise = (raw: unknown): unknown => {
    if (raw === null || raw === undefined) return {};
    const given = typeof raw === 'string' ? { [raw]: {} } : raw;
    if (!isRecord(given)) return given;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(given)) {
      if (value !== null) out[key] = value;
      else if (names.includes(key) || !Object.hasOwn(options, key)) out[key] = {};
    }
    return out;
  };
  const body = z.strictObject({ ...choices, ...options }).superRefine((value, ctx) => {
    const chosen = names.filter((name) => (value as Record<string, unknown>)[name] !== undefined);
    if (chosen.length > 1) {
      ctx.addIssue({ code: 'custom', message: `exactly one ${what} may be configured, found ${chosen.join(' and ')}` });
    } else if (chosen.length === 0 && required) {
      ctx.addIssue({ code: 'custom', message: `no ${what} configured (expected one of ${names.join(', ')})` });
    }
  });
  return markChoice(z.preprocess(normalise, body), what);
}
