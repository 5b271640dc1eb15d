import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * The API reference (`npm run docs`, TypeDoc: tools/typedoc/README.md) as CI checks it: TypeDoc's
 * validation fails the build on a public export or member without a doc comment, on a type the
 * docs mention that the package does not export, and on a broken {@link}. Beyond what TypeDoc
 * checks, every exported class, function, variable and method and every options interface
 * (`*Options`, `*Config`) has an `@example`, and the TypeScript examples type-check against the
 * package's declarations (dist/, built by `npm test`), so an example that drifts from the API
 * fails here. (Other interfaces and types, such as the data the API hands out, need a doc
 * comment; an example is welcome but not required.)
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const typedoc = path.join(root, 'tools/typedoc/node_modules/typedoc/bin/typedoc');
const work = mkdtempSync(path.join(tmpdir(), 'microtp-docs-'));
after(() => rmSync(work, { recursive: true, force: true }));

function run(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, args, { cwd: root, timeout: 120_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) =>
      resolve({ code: error ? 1 : 0, output: stdout + stderr }),
    ),
  );
}

/** What TypeDoc's JSON output holds that these checks read. */
interface Reflection {
  name: string;
  kind: number;
  comment?: Comment;
  signatures?: { comment?: Comment }[];
  children?: Reflection[];
}
interface Comment {
  blockTags?: { tag: string; content: { text: string }[] }[];
}

const KIND = { Variable: 32, Function: 64, Class: 128, Interface: 256, Method: 2048, TypeAlias: 2097152 } as const;
const KIND_NAME = new Map<number, string>(Object.entries(KIND).map(([name, kind]) => [kind, name]));

function needsExample(reflection: Reflection): boolean {
  switch (reflection.kind) {
    case KIND.Variable:
    case KIND.Function:
    case KIND.Class:
    case KIND.Method:
      return true;
    case KIND.Interface:
    case KIND.TypeAlias:
      return /(Options|Config)$/.test(reflection.name);
    default:
      return false;
  }
}

let project: Reflection;
let build: { code: number; output: string };

before(async () => {
  assert.ok(existsSync(typedoc), `TypeDoc is not installed at ${typedoc}: run npm ci (tools/typedoc/README.md)`);
  const json = path.join(work, 'api.json');
  build = await run([typedoc, '--options', 'tools/typedoc/typedoc.config.mjs', '--out', path.join(work, 'html'), '--json', json]);
  if (build.code === 0) project = JSON.parse(readFileSync(json, 'utf8')) as Reflection;
});

test('npm run docs: TypeDoc builds the reference without a warning (a public export without a doc comment, a broken link)', () => {
  assert.equal(build.code, 0, `TypeDoc failed:\n${build.output}`);
  assert.doesNotMatch(build.output, /\[warning\]|\[error\]/, build.output);
  assert.ok(existsSync(path.join(work, 'html/index.html')));
});

/** Each documented reflection with its `@example` code, and the class or module it belongs to. */
function* reflections(parent: Reflection, owner: string): Generator<{ reflection: Reflection; owner: string; examples: string[] }> {
  for (const child of parent.children ?? []) {
    const comments = [child.comment, ...(child.signatures ?? []).map((s) => s.comment)];
    const examples = comments.flatMap((c) => c?.blockTags?.filter((t) => t.tag === '@example') ?? []).map((t) => t.content.map((p) => p.text).join(''));
    yield { reflection: child, owner, examples };
    yield* reflections(child, child.kind === KIND.Class || child.kind === KIND.Interface ? child.name : owner);
  }
}

test('every exported class, function, variable, method and options interface has an @example', () => {
  assert.ok(project, 'no TypeDoc output (see the test above)');
  const missing = [...reflections(project, '')]
    .filter(({ reflection, examples }) => needsExample(reflection) && examples.length === 0)
    .map(({ reflection, owner }) => `${KIND_NAME.get(reflection.kind)} ${owner ? owner + '.' : ''}${reflection.name}`);
  assert.deepEqual(missing, []);
});

/**
 * A snippet (an example without imports) gets the names the docs use for "the object this page
 * is about": `socket` (of the class it documents, a Socket elsewhere), `server`, `connection`,
 * and the package's exports. A complete example (with imports) compiles as it is.
 */
const SOCKET_TYPE: Record<string, string> = {
  SharedSocket: 'SharedSocket',
  UtpNativeSocket: 'UtpNativeSocket',
  Utp: 'UtpNativeSocket',
  ConnectionExtras: 'UtpNativeSocket',
};

function snippetPrelude(code: string, owner: string, module: string): string {
  const declares = (name: string): boolean => new RegExp(`\\b(const|let|var)\\s+${name}\\b`).test(code);
  const socketType = SOCKET_TYPE[owner] ?? (module === 'microtp/utp-native' ? 'UtpNativeSocket' : 'Socket');
  return [
    "import { connect, createServer, createSocket, type Server, type SharedSocket, type Socket } from 'microtp';",
    "import utp, { type CompatConnection, type MessageInfo, type SendCallback, type UtpNativeSocket } from 'microtp/utp-native';",
    declares('socket') ? '' : `declare const socket: ${socketType};`,
    declares('server') ? '' : 'declare const server: Server;',
    declares('connection') ? '' : 'declare const connection: CompatConnection;',
    'void connect, createServer, createSocket, utp;',
  ].join('\n');
}

test('the TypeScript @examples type-check against the published declarations', { timeout: 120_000 }, async () => {
  assert.ok(project, 'no TypeDoc output (see the first test)');
  const dir = path.join(work, 'examples');
  mkdirSync(path.join(dir, 'node_modules/@types'), { recursive: true });
  symlinkSync(root, path.join(dir, 'node_modules/microtp'), 'dir');
  symlinkSync(path.join(root, 'node_modules/@types/node'), path.join(dir, 'node_modules/@types/node'), 'dir');
  const files: string[] = [];
  const where = new Map<string, string>();
  for (const module of project.children ?? []) {
    for (const { reflection, owner, examples } of [{ reflection: module, owner: '', examples: examplesOf(module) }, ...reflections(module, '')]) {
      for (const example of examples) {
        for (const [, code] of example.matchAll(/```ts\n([\s\S]*?)```/g)) {
          const source = /^import /m.test(code!) ? code! : `${snippetPrelude(code!, owner, module.name)}\n${code}`;
          const file = `example-${files.length}.mts`;
          writeFileSync(path.join(dir, file), `${source}\nexport {};\n`);
          files.push(file);
          where.set(file, `${module.name} ${owner ? owner + '.' : ''}${reflection.name}`);
        }
      }
    }
  }
  assert.ok(files.length > 50, `only ${files.length} TypeScript examples found`);
  writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] },
      files,
    }),
  );
  const result = await run([path.join(root, 'node_modules/typescript/bin/tsc'), '-p', dir]);
  // Name each failing example by the page it is on.
  const report = result.output.replace(/example-\d+\.mts/g, (file) => `${file} (${where.get(file)})`);
  assert.equal(report, '');
  assert.equal(result.code, 0);
});

function examplesOf(reflection: Reflection): string[] {
  return (reflection.comment?.blockTags ?? []).filter((t) => t.tag === '@example').map((t) => t.content.map((p) => p.text).join(''));
}
