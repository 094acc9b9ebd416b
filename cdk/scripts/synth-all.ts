// Synthesizes every deployable example policy (and a central-vault app) into one directory per
// policy, for cfn-lint (scripts/lint.sh). Placeholder Lambda code: no cargo build needed.
//   npx ts-node --transpile-only scripts/synth-all.ts <outdir>

import * as fs from 'fs';
import * as path from 'path';
import { buildApp, newApp } from '../lib/app';
import { placeholderCode } from '../lib/lambda-code';
import { loadPolicy, repoRoot, resolveTargets } from '../lib/policy';

const out = path.resolve(process.argv[2] ?? 'cdk.out.lint');
fs.rmSync(out, { recursive: true, force: true });
const examples = path.join(repoRoot(), 'examples');
const jobs: Array<{ name: string; file: string; vaultAccount?: string }> = fs
  .readdirSync(examples)
  .filter((f) => /\.(ya?ml|json)$/.test(f))
  .map((f) => ({ name: f.replace(/\.[a-z]+$/, ''), file: path.join(examples, f) }))
  .filter((j) => resolveTargets(loadPolicy(j.file)).every((t) => t.storage.local === undefined));
jobs.push({ name: 'central-vault-app', file: path.join(__dirname, '..', 'test', 'fixtures', 'three-targets.yaml'), vaultAccount: '999999999999' });

for (const job of jobs) {
  const app = newApp({ outdir: path.join(out, job.name) });
  buildApp(app, { policyFile: job.file, code: () => placeholderCode(), vaultAccount: job.vaultAccount });
  const assembly = app.synth();
  console.log(`${job.name}: ${assembly.stacks.map((s) => s.stackName).join(', ')}`);
}
