// Prints `export NAME='value'` lines: the environment the step Lambdas of a policy's first
// target get in AWS, with stack references replaced by local stand-ins, so that
// `cargo lambda watch` can serve the handlers with the same configuration.
//   eval "$(npx ts-node --transpile-only test/e2e/env.ts ../examples/minimal.yaml)"
// Override the stand-ins with QSBACKUP_E2E_BUCKET / _CATALOG_TABLE / _LOCK_TABLE / _IDENTITY_TABLE.

import * as path from 'path';
import { resourcesOf, synthPolicy } from '../support/synth';

const file = path.resolve(process.argv[2] ?? path.join(__dirname, '..', '..', '..', 'examples', 'minimal.yaml'));
const template = Object.values(synthPolicy(file, { nag: false }).templates)[0];
const fn = Object.values(resourcesOf(template, 'AWS::Lambda::Function'))[0];
const standIns: Record<string, string> = {
  QSBACKUP_BUCKET: process.env.QSBACKUP_E2E_BUCKET ?? 'qsbackup-e2e',
  QSBACKUP_CATALOG_TABLE: process.env.QSBACKUP_E2E_CATALOG_TABLE ?? 'qsbackup-catalog',
  QSBACKUP_LOCK_TABLE: process.env.QSBACKUP_E2E_LOCK_TABLE ?? 'qsbackup-lock',
  QSBACKUP_IDENTITY_TABLE: process.env.QSBACKUP_E2E_IDENTITY_TABLE ?? 'qsbackup-identities',
};
for (const [name, value] of Object.entries(fn.Properties.Environment.Variables as Record<string, unknown>)) {
  const v = typeof value === 'string' ? value : standIns[name];
  if (v === undefined) throw new Error(`no local stand-in for ${name} (${JSON.stringify(value)})`);
  console.log(`export ${name}='${v.replace(/'/g, `'\\''`)}'`);
}
