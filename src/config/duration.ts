/**
 * Go duration syntax (`time.ParseDuration`), the format Distribution's config uses for every timeout and
 * interval: a sequence of decimal numbers each with a unit, e.g. `300ms`, `1.5h`, `2h45m`, `168h`.
 * Berth keeps durations as milliseconds (possibly fractional, for `ns`/`us` inputs).
 */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3, // U+00B5 micro sign
  'μs': 1e-3, // U+03BC Greek mu; Go accepts both
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const EXAMPLES = '(expected e.g. 168h, 30m)';

/** Parses a Go duration string into milliseconds; throws an Error naming the text on bad input. */
export function parseDuration(text: string): number {
  const fail = (): never => {
    throw new Error(`invalid duration ${JSON.stringify(text)} ${EXAMPLES}`);
  };
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  // Go special-cases a lone "0": the only number allowed without a unit.
  if (rest === '0') return 0;
  if (rest === '') fail();
  let total = 0;
  while (rest !== '') {
    const match = /^(\d*)(?:\.(\d*))?/.exec(rest);
    const whole = match?.[1] ?? '';
    const fraction = match?.[2];
    if (whole === '' && (fraction === undefined || fraction === '')) fail();
    rest = rest.slice(match![0].length);
    const unitMatch = /^[^\d.]+/.exec(rest);
    if (!unitMatch) fail();
    const unit = unitMatch![0];
    const scale = UNIT_MS[unit];
    if (scale === undefined) fail();
    rest = rest.slice(unit.length);
    total += Number(`${whole || '0'}.${fraction || '0'}`) * scale!;
  }
  if (!Number.isFinite(total)) fail();
  return sign * total;
}

/** Formats milliseconds back into Go syntax that `parseDuration` reads back to the same value: `1h30m`, `300ms`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let ns = Math.round(Math.abs(ms) * 1e6);
  let out = '';
  for (const [unit, size] of [
    ['h', 3_600e9],
    ['m', 60e9],
    ['s', 1e9],
    ['ms', 1e6],
    ['us', 1e3],
    ['ns', 1],
  ] as const) {
    const count = Math.floor(ns / size);
    if (count > 0) {
      out += `${count}${unit}`;
      ns -= count * size;
    }
  }
  return sign + out;
}
