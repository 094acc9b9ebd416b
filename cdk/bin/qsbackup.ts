#!/usr/bin/env node
// The CDK app: `npx cdk synth -c policy=../examples/FILE.yaml` (or `policy` in cdk.json context).
// Optional: `-c vaultAccount=<12 digits>` writes every target's backups to a central vault;
// `-c lambdaArchitecture=x86_64` when the handlers were built with `cargo lambda build --x86-64`.

import * as path from 'path';
import { buildApp, newApp } from '../lib/app';
import { PolicyError } from '../lib/policy';

const app = newApp();
const policyFile = app.node.tryGetContext('policy') as string | undefined;
if (!policyFile) {
  console.error('No policy given. Run: npx cdk synth -c policy=../examples/<file>.yaml (or set "policy" in cdk.json context).');
  process.exit(1);
}
try {
  buildApp(app, {
    policyFile: path.resolve(policyFile),
    vaultAccount: app.node.tryGetContext('vaultAccount') as string | undefined,
    lambdaArchitecture: app.node.tryGetContext('lambdaArchitecture') as string | undefined,
  });
} catch (e) {
  // A policy mistake is the user's, not a crash: print the paths, no stack trace.
  if (e instanceof PolicyError) {
    console.error(e.message);
    process.exit(1);
  }
  throw e;
}
app.synth();
