// Test helpers: synthesize a policy file the way `cdk synth` does (cdk.json context, cdk-nag),
// with placeholder Lambda code so no cargo build is needed.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildApp, BuildOptions, BuiltApp, newApp } from '../../lib/app';
import { placeholderCode } from '../../lib/lambda-code';
import { repoRoot } from '../../lib/policy';

export const EXAMPLES_DIR = path.join(repoRoot(), 'examples');
export const FIXTURES_DIR = path.join(__dirname, '..', 'fixtures');

export function exampleFiles(): string[] {
  return fs
    .readdirSync(EXAMPLES_DIR)
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .sort()
    .map((f) => path.join(EXAMPLES_DIR, f));
}

export function fixture(name: string): string {
  return path.join(FIXTURES_DIR, name);
}

/** Writes `text` to a temporary policy file and returns its path. */
export function tempPolicy(text: string, ext = 'yaml'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qsbackup-policy-'));
  const file = path.join(dir, `policy.${ext}`);
  fs.writeFileSync(file, text);
  return file;
}

export interface Synthesized {
  readonly built: BuiltApp;
  readonly outdir: string;
  /** Template of each stack, by stack name. */
  readonly templates: Record<string, any>;
  /** The cdk-nag / policy validation report, when one was written. */
  readonly report?: any;
}

/** Builds and synthesizes the app for `policyFile`; throws what `cdk synth` would fail with. */
export function synthPolicy(policyFile: string, opts: Partial<BuildOptions> = {}): Synthesized {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'qsbackup-cdk-'));
  const app = newApp({ outdir });
  const built = buildApp(app, { code: () => placeholderCode(), ...opts, policyFile });
  const assembly = app.synth();
  const templates: Record<string, any> = {};
  for (const stack of assembly.stacks) templates[stack.stackName] = stack.template;
  const reportFile = path.join(outdir, 'validation-report.json');
  const report = fs.existsSync(reportFile) ? JSON.parse(fs.readFileSync(reportFile, 'utf8')) : undefined;
  return { built, outdir, templates, report };
}

/** A copy of `template` with asset hashes (content-addressed, change with every code build) masked. */
export function stripAssetHashes(template: unknown): unknown {
  return JSON.parse(JSON.stringify(template).replace(/[0-9a-f]{64}/g, '<asset-hash>'));
}

/** Resources of one type, by logical id. */
export function resourcesOf(template: any, type: string): Record<string, any> {
  return Object.fromEntries(Object.entries(template.Resources as Record<string, any>).filter(([, r]) => r.Type === type));
}

/** The only resource of `type` in `template`. */
export function onlyResource(template: any, type: string): any {
  const all = Object.values(resourcesOf(template, type));
  if (all.length !== 1) throw new Error(`expected one ${type}, found ${all.length}`);
  return all[0];
}
