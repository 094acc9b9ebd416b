// The app: one stack per target, policy errors, undeployable policies, the central vault.

import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { buildApp, newApp } from '../lib/app';
import { builtCode, BUILD_COMMAND, defaultCodeProvider } from '../lib/lambda-code';
import { PolicyError } from '../lib/policy';
import { EXAMPLES_DIR, fixture, onlyResource, resourcesOf, synthPolicy, tempPolicy } from './support/synth';

const CDK_DIR = path.join(__dirname, '..');

describe('one stack per policy target', () => {
  test('a policy with three targets synthesizes three stacks with the right account and Region', () => {
    const { built, templates } = synthPolicy(fixture('three-targets.yaml'));
    expect(built.stacks.map((s) => [s.stackName, s.account, s.region])).toEqual([
      ['QsBackup-three-111111111111-us-east-1', '111111111111', 'us-east-1'],
      ['QsBackup-three-222222222222-eu-west-1', '222222222222', 'eu-west-1'],
      ['QsBackup-three-333333333333-ap-southeast-2', '333333333333', 'ap-southeast-2'],
    ]);
    expect(Object.keys(templates)).toHaveLength(3);
    // The override applies to its target only.
    const expr = (name: string) => onlyResource(templates[name], 'AWS::Scheduler::Schedule').Properties.ScheduleExpression;
    expect(expr('QsBackup-three-111111111111-us-east-1')).toBe('cron(0 2 * * ? *)');
    expect(expr('QsBackup-three-333333333333-ap-southeast-2')).toBe('rate(12 hours)');
    // Each Lambda gets only its own target in the policy.
    const env = Object.values(resourcesOf(templates['QsBackup-three-222222222222-eu-west-1'], 'AWS::Lambda::Function'))[0].Properties.Environment.Variables;
    expect(JSON.parse(env.QSBACKUP_POLICY_JSON)).toMatchObject({ source: { region: 'eu-west-1' }, targets: [{ account: '222222222222', region: 'eu-west-1' }] });
  });

  test('policy names with underscores still give valid stack names', () => {
    const file = tempPolicy('version: 1\nname: my_policy\ntargets: [{account: "111111111111"}]\n');
    const app = newApp();
    const { stacks } = buildApp(app, { policyFile: file, code: defaultCodeProvider({ QSBACKUP_SKIP_BUNDLING: '1' }), nag: false });
    expect(stacks[0].stackName).toBe('QsBackup-my-policy-111111111111-us-east-1');
  });
});

describe('policies that cannot be synthesized', () => {
  test('an invalid policy fails synth with the policy error naming the path', () => {
    expect(() => synthPolicy(fixture('invalid.yaml'))).toThrow(PolicyError);
    expect(() => synthPolicy(fixture('invalid.yaml'))).toThrow(/\$\.targets\[0\]\.account: must be string/);
  });

  test('the local-storage example is refused: it is for laptops', () => {
    expect(() => synthPolicy(path.join(EXAMPLES_DIR, 'local-laptop.yaml'))).toThrow(/\$\.storage\.local: local storage .* cannot be deployed/);
  });

  test('a local-storage override is refused with its own path', () => {
    expect(() => synthPolicy(fixture('local-override.yaml'))).toThrow(/\$\.targets\[1\]\.overrides\.storage\.local: local storage \(target 222222222222\/us-east-1\)/);
  });

  test('a resolved policy over 3,500 bytes of JSON fails synth', () => {
    const rules = Array.from({ length: 60 }, (_, i) => `    - names: ["some-rather-long-dashboard-name-pattern-${i}-*"]`).join('\n');
    const file = tempPolicy(`version: 1\nname: big\ntargets: [{account: "111111111111"}]\nselection:\n  include:\n${rules}\n`);
    expect(() => synthPolicy(file)).toThrow(/resolved policy is \d+ bytes as JSON; .* at most 3500/);
  });

  test('without QSBACKUP_SKIP_BUNDLING a missing Lambda zip fails with the build command', () => {
    const emptyRepo = fs.mkdtempSync(path.join(os.tmpdir(), 'qsbackup-repo-'));
    expect(() => builtCode(emptyRepo)('qsbackup-begin')).toThrow(BUILD_COMMAND);
    expect(BUILD_COMMAND).toBe('cargo lambda build --release --arm64 --output-format zip -p qsbackup-lambda');
  });

  test('a built zip is used as the Lambda code', () => {
    const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'qsbackup-repo-'));
    fs.mkdirSync(path.join(repo, 'target', 'lambda', 'qsbackup-begin'), { recursive: true });
    fs.writeFileSync(path.join(repo, 'target', 'lambda', 'qsbackup-begin', 'bootstrap.zip'), 'zip');
    expect(builtCode(repo)('qsbackup-begin').constructor.name).toBe('AssetCode');
  });
});

describe('central vault (-c vaultAccount=...)', () => {
  let synth: ReturnType<typeof synthPolicy>;
  beforeAll(() => {
    synth = synthPolicy(fixture('three-targets.yaml'), { vaultAccount: '999999999999' });
  });

  test('one vault stack per target Region in the vault account; targets depend on it', () => {
    expect(synth.built.vaults.map((v) => [v.stackName, v.account, v.region])).toEqual([
      ['QsBackupVault-three-us-east-1', '999999999999', 'us-east-1'],
      ['QsBackupVault-three-eu-west-1', '999999999999', 'eu-west-1'],
      ['QsBackupVault-three-ap-southeast-2', '999999999999', 'ap-southeast-2'],
    ]);
    const [first] = synth.built.stacks;
    expect(first.dependencies.map((d) => d.stackName)).toEqual(['QsBackupVault-three-us-east-1']);
  });

  test('source Lambdas write to the vault bucket and are not allowed to delete', () => {
    const vault = synth.templates['QsBackupVault-three-us-east-1'];
    const target = synth.templates['QsBackup-three-111111111111-us-east-1'];
    const vaultBucket = Object.values(resourcesOf(vault, 'AWS::S3::Bucket')).find((b) => b.Properties.BucketName)!;
    const fn = Object.values(resourcesOf(target, 'AWS::Lambda::Function'))[0];
    expect(fn.Properties.Environment.Variables.QSBACKUP_BUCKET).toBe(vaultBucket.Properties.BucketName);
    // Retention in the vault is its lifecycle; prune only reports (it may not delete there).
    expect(fn.Properties.Environment.Variables.QSBACKUP_PRUNE).toBe('report');
    Template.fromJSON(target).resourceCountIs('AWS::S3::Bucket', 0);
    const actions = Object.values(resourcesOf(target, 'AWS::IAM::Policy')).flatMap((p) =>
      p.Properties.PolicyDocument.Statement.flatMap((s: any) => [s.Action].flat()),
    );
    expect(actions).not.toContain('s3:DeleteObject');
  });

  test('vault: KMS bucket, deny deletes by source accounts, writers limited to qsbackup roles', () => {
    const t = Template.fromJSON(synth.templates['QsBackupVault-three-us-east-1']);
    t.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: Match.anyValue(),
      BucketEncryption: { ServerSideEncryptionConfiguration: [Match.objectLike({ ServerSideEncryptionByDefault: Match.objectLike({ SSEAlgorithm: 'aws:kms' }) })] },
      VersioningConfiguration: { Status: 'Enabled' },
    });
    t.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'SourceAccountsWrite',
            Effect: 'Allow',
            Action: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
            Condition: { ArnLike: { 'aws:PrincipalArn': ['arn:aws:iam::111111111111:role/QsBackup-*'] } },
          }),
          Match.objectLike({
            Sid: 'SourceAccountsNeverDelete',
            Effect: 'Deny',
            Action: Match.arrayWith(['s3:BypassGovernanceRetention', 's3:DeleteObject', 's3:DeleteObjectVersion']),
            Condition: { StringEquals: { 'aws:PrincipalAccount': ['111111111111'] } },
          }),
        ]),
      },
    });
    t.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'SourceAccountsUseThroughS3',
            Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
            Condition: Match.objectLike({ StringEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } }),
          }),
        ]),
      },
    });
  });

  test('vaultAccount must be 12 digits', () => {
    expect(() => buildApp(newApp(), { policyFile: fixture('three-targets.yaml'), vaultAccount: '123', nag: false })).toThrow(/12-digit/);
  });
});

describe('the cdk CLI (offline)', () => {
  const env = { ...process.env, QSBACKUP_SKIP_BUNDLING: '1', CDK_DISABLE_CLI_TELEMETRY: '1', npm_config_update_notifier: 'false' };
  const cdk = path.join(CDK_DIR, 'node_modules', '.bin', 'cdk');

  test('cdk synth -c policy=... writes one template per target', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'qsbackup-cli-'));
    execFileSync(cdk, ['synth', '-q', '-c', 'policy=../examples/multi-account.yaml', '-o', out], { cwd: CDK_DIR, env, stdio: 'pipe' });
    expect(fs.readdirSync(out).filter((f) => f.endsWith('.template.json')).sort()).toEqual([
      'QsBackup-bi-estate-111111111111-us-east-1.template.json',
      'QsBackup-bi-estate-222222222222-us-east-1.template.json',
      'QsBackup-bi-estate-333333333333-eu-west-1.template.json',
    ]);
  });

  test('cdk synth of an invalid policy exits non-zero and prints the paths', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'qsbackup-cli-'));
    const r = spawnSync(cdk, ['synth', '-q', '-c', `policy=${fixture('invalid.yaml')}`, '-o', out], { cwd: CDK_DIR, env, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('$.export.concurrentJobs: must be <= 5');
  });
});

describe('Lambda architecture (-c lambdaArchitecture=...)', () => {
  test('arm64 by default, x86_64 when the handlers were built for it, anything else refused', () => {
    const archs = (opts: { lambdaArchitecture?: string }) => {
      const synth = synthPolicy(path.join(EXAMPLES_DIR, 'minimal.yaml'), opts);
      const fns = Object.values(resourcesOf(Object.values(synth.templates)[0], 'AWS::Lambda::Function'));
      return [...new Set(fns.map((f: any) => f.Properties.Architectures.join(',')))];
    };
    expect(archs({})).toEqual(['arm64']);
    expect(archs({ lambdaArchitecture: 'x86_64' })).toEqual(['x86_64']);
    expect(() => synthPolicy(path.join(EXAMPLES_DIR, 'minimal.yaml'), { lambdaArchitecture: 'sparc' })).toThrow(/arm64 or x86_64/);
  });
});
