/**
 * The floor plan, enforced: src/ is laid out by the data flow, and a stage only imports the stages
 * before it. `npm run lint` runs this (depcruise), so a wrong-way import fails CI.
 */
const stages = [
  'errors',
  'config',
  'logging',
  'telemetry',
  'pool',
  'query',
  'sql',
  'repositories',
  'migrate',
  'database',
];

const stageRules = stages.map((stage, index) => ({
  name: `${stage}-imports-only-earlier-stages`,
  comment: `src/${stage}/ may import only ${stages.slice(0, index).join(', ') || 'no other stage'}`,
  severity: 'error',
  from: { path: `^src/${stage}/` },
  to: { path: [...stages.slice(index + 1).map((later) => `^src/${later}/`), '^src/index\\.ts$'] },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import cycle hides which stage comes first.',
      severity: 'error',
      from: { path: '^(src|db-types|migrations)/' },
      to: { circular: true },
    },
    ...stageRules,
    {
      name: 'src-stays-out-of-tools',
      comment: 'The package never depends on its scripts, tests or benchmarks.',
      severity: 'error',
      from: { path: '^(src|db-types|migrations)/' },
      to: { path: '^(scripts|test|bench)/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      extensions: ['.ts', '.js', '.d.ts'],
      exportsFields: ['exports'],
      conditionNames: ['types', 'import', 'require', 'node', 'default'],
      mainFields: ['types', 'typings', 'module', 'main'],
    },
  },
};
