/**
 * Numbers read from query parameters and headers. Only decimal digits (a fraction where one is
 * meant): `Number()` would also take `0x10`, `1e3`, `" 12 "`, `""` (as 0), `Infinity`, which no
 * client means. A value that is not one is a 400 naming the parameter and what it got.
 */
import { ServerError } from "./errors.js";

/** At most 15 digits: every such integer is exact as a JavaScript number. */
const INTEGER = /^\d{1,15}$/;
/** Seconds: digits, optionally a fraction (`2`, `0.5`); no sign, exponent or padding. */
const DECIMAL = /^\d{1,15}(?:\.\d{1,20})?$/;

function refuse(name: string, raw: string, what: string): never {
  throw new ServerError("BAD_REQUEST", `${name} must be ${what}; got ${JSON.stringify(raw)}.`, { parameter: name, got: raw });
}

/** An integer >= 0 (at most `max` when given) from parameter `name`, or undefined when it is absent. An empty value is refused. */
export function integerParam(raw: string | undefined, name: string, range: { min?: number; max?: number } = {}): number | undefined {
  if (raw === undefined) return undefined;
  const min = range.min ?? 0;
  const what = `an integer${range.max !== undefined ? ` from ${min} to ${range.max}` : ` >= ${min}`} written in decimal digits`;
  if (!INTEGER.test(raw)) refuse(name, raw, what);
  const n = Number(raw);
  if (n < min || (range.max !== undefined && n > range.max)) refuse(name, raw, what);
  return n;
}

/** A number >= 0 in decimal digits, maybe with a fraction (`2`, `0.5`), from parameter `name`; undefined when absent. */
export function decimalParam(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined) return undefined;
  if (!DECIMAL.test(raw)) refuse(name, raw, "a number >= 0 written in decimal digits (e.g. 5 or 0.5)");
  return Number(raw);
}
