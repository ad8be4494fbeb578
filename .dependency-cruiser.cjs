/** The package import rules of DESIGN.md, checked in CI. */
module.exports = {
  forbidden: [
    {
      name: 'core-is-the-bottom',
      comment: 'core imports neither cli nor stack',
      severity: 'error',
      from: { path: '^packages/core/' },
      to: { path: '^packages/(cli|stack)/|node_modules/(backupctl|@backupctl/stack)/' },
    },
    {
      name: 'stack-never-imports-cli',
      severity: 'error',
      from: { path: '^packages/stack/' },
      to: { path: '^packages/cli/|node_modules/backupctl/' },
    },
    {
      name: 'core-no-cloudformation-or-oclif',
      comment: 'the SDK knows nothing of oclif or CloudFormation',
      severity: 'error',
      from: { path: '^packages/core/src/' },
      to: { path: 'node_modules/(@oclif|@aws-sdk/client-cloudformation)' },
    },
    {
      name: 'shipped-code-never-imports-agpl-simulator',
      comment: '@cloud-copilot/iam-simulate is AGPL: tests only',
      severity: 'error',
      from: { path: '^packages/[^/]+/src/' },
      to: { path: 'node_modules/@cloud-copilot/iam-simulate' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)dist/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.base.json' },
    combinedDependencies: true,
  },
};
