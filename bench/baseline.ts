// The 'microtp-baseline' stack: microtp as it was at an earlier commit, built from git into
// build/bench-baseline/<sha>/, so that one bench run measures what a change cost (for example
// the copy that gives the application its buffer back after write()'s callback) against the
// code before it, on the same machine at the same time.
//
// BENCH_BASELINE_REF picks the commit (default: main before the hardening issue). Needs git and
// the repository's history (a clean clone has both).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** main before issue 6 (hardening): packets were views of the application's buffers. */
export const DEFAULT_BASELINE_REF = '2e6a3ee';

const repo = fileURLToPath(new URL('../../', import.meta.url)); // build/bench -> repository root

/** Builds the baseline if needed; returns the path of its compiled `index.js`. */
export function baselineEntry(ref = process.env.BENCH_BASELINE_REF ?? DEFAULT_BASELINE_REF): string {
  const sha = execFileSync('git', ['rev-parse', '--verify', `${ref}^{commit}`], { cwd: repo, encoding: 'utf8' }).trim();
  const dir = `${repo}build/bench-baseline/${sha}/`;
  const entry = `${dir}dist/index.js`;
  if (existsSync(entry)) return entry;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // Only the library's sources: the baseline's own tests and benches are not needed.
  const archive = execFileSync('git', ['archive', sha, 'src', 'tsconfig.json'], { cwd: repo });
  execFileSync('tar', ['-x', '-C', dir], { input: archive });
  // Compile with this checkout's TypeScript and type definitions (the baseline has no node_modules).
  writeFileSync(
    `${dir}tsconfig.bench.json`,
    JSON.stringify({
      extends: './tsconfig.json',
      compilerOptions: { declaration: false, sourceMap: false, typeRoots: [`${repo}node_modules/@types`] },
    }),
  );
  execFileSync(`${repo}node_modules/.bin/tsc`, ['-p', `${dir}tsconfig.bench.json`], { cwd: dir, stdio: 'inherit' });
  return entry;
}
