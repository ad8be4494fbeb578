#!/usr/bin/env node
// Only the three numbers: `node bench/measure-issue.mjs` (= `node bench/run.mjs --issue`).
process.argv.push('--issue');
await import('./run.mjs');
