// Parsing of the benches' environment variables (bench/bottleneck/run.ts and multi-flow.ts,
// bench/gauge/run.ts, bench/impaired/run.ts, bench/run.ts): bad values fail with the
// variable's name.

/** A comma list of positive numbers. */
export function list(name: string, def: string): number[] {
  const raw = process.env[name] ?? def;
  const xs = raw.split(',').map((s) => Number(s.trim()));
  if (xs.length === 0 || xs.some((x) => !(x > 0) || !Number.isFinite(x))) throw new Error(`${name}: expected positive numbers, got '${raw}'`);
  return xs;
}

/** A non-negative number. */
export function num(name: string, def: number): number {
  const x = Number(process.env[name] ?? def);
  if (!(x >= 0) || !Number.isFinite(x)) throw new Error(`${name}: expected a number, got '${process.env[name]}'`);
  return x;
}

/** A positive number (`def` may come from another variable, as a string). */
export function positive(name: string, def: number | string): number {
  const raw = process.env[name] ?? def;
  const x = Number(raw);
  if (!(x > 0) || !Number.isFinite(x)) throw new Error(`${name}: expected a positive number, got '${raw}'`);
  return x;
}

/** A comma list of names, each one of `known`. */
export function names<T extends string>(name: string, def: string, known: readonly T[]): T[] {
  const raw = (process.env[name] ?? def).trim();
  const xs = raw === '' ? [] : raw.split(',').map((s) => s.trim());
  for (const x of xs) if (!known.includes(x as T)) throw new Error(`${name}: unknown ${x}; known: ${known.join(', ')}`);
  return xs as T[];
}
