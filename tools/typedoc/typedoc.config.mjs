// TypeDoc configuration for `npm run docs` (the API reference in build/docs/).
//
// TypeDoc runs on the TypeScript 6 installed next to it in tools/typedoc/node_modules (see
// README.md here for why); paths are relative to this file. A JavaScript config rather than
// typedoc.json: TypeDoc's TypeScript 7 port will no longer read JSON/JSONC configs (typedoc#3098).

/** @type {Partial<import('typedoc').TypeDocOptions>} */
export default {
  name: 'microtp',
  // The package's public entry points (package.json "exports"): `microtp` and
  // `microtp/utp-native` (named by the @module tag in each file). The `require` entry
  // (src/compat/require.cts) is `export = ` of the same utp function as microtp/utp-native, so it
  // would only document that function twice.
  entryPoints: ['../../src/index.ts', '../../src/compat/utp-native.ts'],
  tsconfig: '../../tsconfig.json',
  out: '../../build/docs',
  // The landing page (build/docs/index.html).
  readme: 'index.md',
  excludeInternal: true,
  excludePrivate: true,
  excludeProtected: true,
  excludeExternals: true,
  // `npm run docs` fails (treatWarningsAsErrors) on a public export or member without a doc
  // comment, on a type the docs reference but the package does not export, and on a broken
  // {@link}; test/docs.test.ts runs it under `npm test`.
  validation: { notExported: true, invalidLink: true, notDocumented: true },
  requiredToBeDocumented: [
    'Module',
    'Namespace',
    'Enum',
    'EnumMember',
    'Variable',
    'Function',
    'Class',
    'Interface',
    'Constructor',
    'Property',
    'Method',
    'Accessor',
    'TypeAlias',
  ],
  // What Socket implements for the UDP driver: internal, never part of the API.
  intentionallyNotExported: ['ConnectionOwner'],
  treatWarningsAsErrors: true,
  // Source links need a git remote TypeDoc recognises (a GitHub/GitLab URL); a clone of a local
  // path (CI's) has none, and the warning would fail the build. The pages still name each file.
  disableSources: true,
};
