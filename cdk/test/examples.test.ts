// Every example policy in ../examples: synthesized once with the cdk-nag AwsSolutions pack,
// then snapshot (asset hashes masked), asl-validator on the workflow, and the nag report.
// Examples with local storage must be refused instead.

import * as path from 'path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { IConstruct } from 'constructs';
import { acknowledge } from '../lib/nag';
import { loadPolicy, resolveTargets } from '../lib/policy';
import { definitionOf } from './support/definition';
import { exampleFiles, fixture, stripAssetHashes, synthPolicy, Synthesized } from './support/synth';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const aslValidator = require('asl-validator') as (d: unknown) => { isValid: boolean; errorsText: (sep?: string) => string };

const examples = exampleFiles().map((file) => ({ name: path.basename(file), file }));
const deployable = examples.filter((e) => resolveTargets(loadPolicy(e.file)).every((t) => t.storage.local === undefined));
const local = examples.filter((e) => !deployable.includes(e));

/** Every acknowledgement in the tree: construct path, rule id, reason. */
function acknowledgements(root: IConstruct): Array<{ path: string; id: string; reason: unknown }> {
  const out: Array<{ path: string; id: string; reason: unknown }> = [];
  for (const c of root.node.findAll()) {
    for (const m of c.node.metadata) {
      if (m.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(m.data as Record<string, unknown>)) out.push({ path: c.node.path, id, reason });
    }
  }
  return out;
}

/** Unacknowledged findings in a validation report (none when no report was written). */
function violations(report: any): string[] {
  const out: string[] = [];
  for (const plugin of report?.pluginReports ?? []) {
    for (const v of plugin.violations ?? []) out.push(`${v.ruleName}: ${(v.violatingResources ?? v.violatingConstructs ?? []).map((r: any) => r.constructPath ?? r.resourceLogicalId).join(', ')}`);
  }
  return out;
}

test('the examples include deployable and local-only policies', () => {
  expect(deployable.length).toBeGreaterThan(0);
  expect(local.map((e) => e.name)).toEqual(['local-laptop.yaml']);
});

describe.each(deployable)('example $name', ({ file }) => {
  let synth: Synthesized;
  beforeAll(() => {
    // Throws if cdk-nag reports any unacknowledged finding.
    synth = synthPolicy(file);
  });

  test('matches its snapshot (asset hashes masked)', () => {
    for (const [name, template] of Object.entries(synth.templates)) expect(stripAssetHashes(template)).toMatchSnapshot(name);
  });

  test('the workflow definition is valid ASL', () => {
    for (const template of Object.values(synth.templates)) {
      const result = aslValidator(definitionOf(template));
      expect(result.errorsText('\n')).toBe('');
      expect(result.isValid).toBe(true);
      // Regression: a `'key.$': JsonPath.format(...)` once rendered as `key.$.$`, which
      // asl-validator accepts but Step Functions cannot resolve.
      expect(JSON.stringify(definitionOf(template))).not.toContain('.$.$');
    }
  });

  test('cdk-nag AwsSolutions: no unacknowledged finding, every acknowledgement has a reason', () => {
    expect(violations(synth.report)).toEqual([]);
    const acks = synth.built.stacks.flatMap((s) => acknowledgements(s));
    expect(acks.length).toBeGreaterThan(0);
    for (const a of acks) {
      expect({ ...a, ok: typeof a.reason === 'string' && a.reason.trim().length > 20 }).toEqual({ ...a, ok: true });
    }
  });
});

test.each(local)('example $name (local storage) is refused by synth', ({ file }) => {
  expect(() => synthPolicy(file)).toThrow(/storage\.local.*cannot be deployed/);
});

describe('cdk-nag is really active', () => {
  test('an insecure bucket is reported (guards against two aws-cdk-lib copies, which silence cdk-nag)', () => {
    const app = new App();
    const stack = new Stack(app, 'Insecure');
    new s3.Bucket(stack, 'Open');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions-S10/);
  });

  test('an acknowledgement without a reason is refused', () => {
    const stack = new Stack(new App(), 'S');
    expect(() => acknowledge(stack, 'AwsSolutions-S1', '  ')).toThrow(/has no reason/);
  });

  test('the central vault stacks pass too', () => {
    const synth = synthPolicy(fixture('three-targets.yaml'), { vaultAccount: '999999999999' });
    expect(violations(synth.report)).toEqual([]);
    for (const v of synth.built.vaults) {
      for (const a of acknowledgements(v)) expect(String(a.reason).trim().length).toBeGreaterThan(20);
    }
  });
});
