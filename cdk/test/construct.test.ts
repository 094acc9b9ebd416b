// Template assertions: the resources of one target stack and the properties that matter.

import * as path from 'path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { STEP_BINARIES } from '../lib/permissions';
import { definitionOf } from './support/definition';
import { EXAMPLES_DIR, fixture, resourcesOf, synthPolicy, tempPolicy } from './support/synth';

const only = (templates: Record<string, any>) => {
  const all = Object.values(templates);
  expect(all).toHaveLength(1);
  return all[0];
};

/** Every IAM action of a step's policy, and the statements, by binary. */
function stepPolicies(template: any): Record<string, { actions: string[]; statements: any[] }> {
  const functions = resourcesOf(template, 'AWS::Lambda::Function');
  const policies = Object.values(resourcesOf(template, 'AWS::IAM::Policy'));
  const out: Record<string, { actions: string[]; statements: any[] }> = {};
  for (const fn of Object.values(functions)) {
    const binary = /: (qsbackup-[a-z-]+)$/.exec(fn.Properties.Description)![1];
    const roleId = fn.Properties.Role['Fn::GetAtt'][0];
    const policy = policies.find((p) => p.Properties.Roles.some((r: any) => r.Ref === roleId));
    const statements = policy.Properties.PolicyDocument.Statement;
    out[binary] = { actions: [...new Set(statements.flatMap((s: any) => [s.Action].flat()))].sort() as string[], statements };
  }
  return out;
}

describe('a stack-created bucket with Object Lock, cold storage, e-mails (fixture lifecycle.yaml)', () => {
  let template: any;
  let t: Template;
  beforeAll(() => {
    template = only(synthPolicy(fixture('lifecycle.yaml')).templates);
    t = Template.fromJSON(template);
  });

  test('backup bucket: private, versioned, SSE-S3, Object Lock from the policy, access logs', () => {
    t.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      ObjectLockEnabled: true,
      ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Days: 30, Mode: 'GOVERNANCE' } } },
      LoggingConfiguration: { DestinationBucketName: Match.anyValue(), LogFilePrefix: 'backups/' },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
    t.resourceCountIs('AWS::S3::Bucket', 2); // backups + access logs
  });

  test('lifecycle follows retention: cold storage after coldStorageAfterDays, noncurrent versions, multipart', () => {
    t.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockEnabled: true,
      LifecycleConfiguration: {
        Rules: [
          {
            Id: 'Retention',
            Status: 'Enabled',
            Transitions: [{ StorageClass: 'GLACIER', TransitionInDays: 30 }],
            NoncurrentVersionExpiration: { NoncurrentDays: 30 },
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
            ExpiredObjectDeleteMarker: true,
            // deleteAfterDays is applied by prune (which keeps the newest good run), not by S3.
            ExpirationInDays: Match.absent(),
          },
        ],
      },
    });
  });

  test('buckets refuse plain HTTP', () => {
    const policies = Object.values(resourcesOf(template, 'AWS::S3::BucketPolicy'));
    expect(policies).toHaveLength(2);
    for (const p of policies) {
      expect(p.Properties.PolicyDocument.Statement).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      );
    }
  });

  test.each([
    ['CatalogTable', [['scope', 'HASH'], ['runId', 'RANGE']]],
    ['LockTable', [['lockId', 'HASH']]],
    ['IdentityTable', [['runId', 'HASH'], ['itemKey', 'RANGE']]],
  ])('%s: keys, on-demand, PITR, TTL expiresAt, encrypted', (name, keys) => {
    const tables = resourcesOf(template, 'AWS::DynamoDB::GlobalTable');
    const [, table] = Object.entries(tables).find(([id]) => id.includes(name as string))!;
    expect(table.Properties).toMatchObject({
      KeySchema: (keys as string[][]).map(([AttributeName, KeyType]) => ({ AttributeName, KeyType })),
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      Replicas: [expect.objectContaining({ Region: 'eu-central-1', PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true }, DeletionProtectionEnabled: true })],
    });
    expect(table.DeletionPolicy).toBe('Retain');
  });

  test('schedule: expression, time zone, flexible window, input mode, DLQ and retries', () => {
    t.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(15 3 ? * MON-FRI *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      FlexibleTimeWindow: { Mode: 'FLEXIBLE', MaximumWindowInMinutes: 20 },
      State: 'ENABLED',
      Target: {
        Arn: { Ref: Match.stringLikeRegexp('Workflow') },
        Input: JSON.stringify({ mode: 'full' }),
        DeadLetterConfig: { Arn: Match.anyValue() },
        RetryPolicy: { MaximumRetryAttempts: 5, MaximumEventAgeInSeconds: 21600 },
      },
    });
    t.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
  });

  test('state machine: Standard, logs ALL with data, X-Ray, MaxConcurrency from export.concurrentJobs', () => {
    t.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: true, Destinations: [Match.anyValue()] },
      TracingConfiguration: { Enabled: true },
    });
    const def = definitionOf(template) as any;
    const exportBranch = def.States.Backup.Branches[1].States;
    expect(exportBranch.ExportBatches.MaxConcurrency).toBe(3);
    expect(exportBranch.ExportBatchesDistributed.MaxConcurrency).toBe(3);
    expect(def.TimeoutSeconds).toBe(23 * 3600);
  });

  test('Lambdas: provided.al2023 on arm64, 512 MiB, JSON logs, timeouts, the environment contract', () => {
    const fns = Object.values(resourcesOf(template, 'AWS::Lambda::Function'));
    expect(fns).toHaveLength(STEP_BINARIES.length);
    const timeouts: Record<string, number> = {};
    for (const fn of fns) {
      const p = fn.Properties;
      expect(p).toMatchObject({ Runtime: 'provided.al2023', Architectures: ['arm64'], Handler: 'bootstrap', MemorySize: 512 });
      expect(p.LoggingConfig).toMatchObject({ LogFormat: 'JSON' });
      expect(Object.keys(p.Environment.Variables).sort()).toEqual(
        [
          'QSBACKUP_POLICY_JSON',
          'QSBACKUP_BUCKET',
          'QSBACKUP_PREFIX',
          'QSBACKUP_CATALOG_TABLE',
          'QSBACKUP_LOCK_TABLE',
          'QSBACKUP_IDENTITY_TABLE',
          'QSBACKUP_ACCOUNT',
          'QSBACKUP_REGION',
          'RUST_LOG',
        ].sort(),
      );
      expect(p.Environment.Variables).toMatchObject({ QSBACKUP_PREFIX: 'backups/qs', QSBACKUP_ACCOUNT: '123456789012', QSBACKUP_REGION: 'eu-central-1', RUST_LOG: 'info' });
      const policy = JSON.parse(p.Environment.Variables.QSBACKUP_POLICY_JSON);
      expect(policy.targets).toEqual([{ account: '123456789012', region: 'eu-central-1' }]);
      expect(policy.$schema).toBeUndefined();
      timeouts[/: (qsbackup-[a-z-]+)$/.exec(p.Description)![1]] = p.Timeout;
    }
    expect(timeouts).toEqual({
      'qsbackup-begin': 60,
      'qsbackup-identities': 900,
      'qsbackup-discover': 900,
      'qsbackup-start-export': 120,
      'qsbackup-check-export': 60,
      'qsbackup-store-bundle': 900,
      'qsbackup-split-batch': 120,
      'qsbackup-finalize': 600,
      'qsbackup-prune': 900,
    });
  });

  test('each step has its own role with exactly the actions its code calls', () => {
    const policies = stepPolicies(template);
    const logs = ['logs:CreateLogStream', 'logs:PutLogEvents'];
    const s3Write = ['s3:AbortMultipartUpload', 's3:PutObject'];
    expect(Object.fromEntries(Object.entries(policies).map(([b, p]) => [b, p.actions]))).toEqual({
      'qsbackup-begin': [...logs, 'dynamodb:PutItem', 'dynamodb:UpdateItem', 's3:ListBucket', ...s3Write].sort(),
      'qsbackup-identities': [
        ...logs,
        'quicksight:ListNamespaces',
        'quicksight:DescribeAccountSettings',
        'quicksight:DescribeAccountCustomization',
        'quicksight:ListUsers',
        'quicksight:ListGroups',
        'quicksight:ListGroupMemberships',
        'dynamodb:BatchWriteItem',
        ...s3Write,
      ].sort(),
      'qsbackup-discover': [
        ...logs,
        'quicksight:ListAnalyses',
        'quicksight:ListDashboards',
        'quicksight:ListDataSets',
        'quicksight:ListDataSources',
        'quicksight:ListFolders',
        'quicksight:ListThemes',
        'quicksight:ListVPCConnections',
        'quicksight:DescribeAnalysis',
        'quicksight:DescribeDashboard',
        'quicksight:DescribeDataSet',
        'quicksight:DescribeFolder',
        'quicksight:ListFolderMembers',
        'quicksight:ListTagsForResource',
        ...s3Write,
      ].sort(),
      'qsbackup-start-export': expect.arrayContaining(['quicksight:StartAssetBundleExportJob', 'quicksight:DescribeDashboardPermissions', 's3:GetObject']),
      'qsbackup-check-export': [...logs, 'quicksight:DescribeAssetBundleExportJob', 's3:GetObject'].sort(),
      'qsbackup-store-bundle': [...logs, 'quicksight:DescribeAssetBundleExportJob', 's3:GetObject', ...s3Write].sort(),
      'qsbackup-split-batch': [...logs, 'quicksight:DescribeAssetBundleExportJob', 's3:GetObject', ...s3Write].sort(),
      'qsbackup-finalize': [...logs, 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 's3:ListBucket', 's3:GetObject', ...s3Write].sort(),
      'qsbackup-prune': [...logs, 's3:ListBucket', 's3:GetObject', 's3:DeleteObject'].sort(),
    });
    // Nothing destructive beyond prune's deletes, and no wildcard actions anywhere.
    for (const [binary, p] of Object.entries(policies)) {
      expect(p.actions.filter((a) => a.includes('*'))).toEqual([]);
      if (binary !== 'qsbackup-prune') expect(p.actions).not.toContain('s3:DeleteObject');
    }
  });

  test('resources are scoped: objects to <prefix>/<account>/<region>/*, QuickSight to the account and Region', () => {
    const policies = stepPolicies(template);
    const put = policies['qsbackup-store-bundle'].statements.find((s) => s.Sid === 'WriteRunObjects');
    expect(put.Resource).toEqual({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/Backups/), 'Arn'] }, '/backups/qs/123456789012/eu-central-1/*']] });
    const start = policies['qsbackup-start-export'].statements.find((s) => s.Sid === 'StartExportJob');
    expect(start.Resource).toBe('arn:aws:quicksight:eu-central-1:123456789012:asset-bundle-export-job/*');
    // Metrics come from Embedded Metric Format log lines, not PutMetricData.
    expect(policies['qsbackup-finalize'].statements.find((s) => s.Sid === 'RunMetrics')).toBeUndefined();
    // `*` only for calls that have no resource type.
    for (const p of Object.values(policies)) {
      for (const s of p.statements.filter((x) => x.Resource === '*')) {
        expect([s.Action].flat().every((a: string) => /^quicksight:(List[A-Za-z]+|DescribeAccount[A-Za-z]+)$/.test(a))).toBe(true);
      }
    }
  });

  test('notifications: KMS-encrypted TLS-only topic, e-mail subscriptions, alarms, run-finished rule', () => {
    t.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('Key'), 'Arn'] } });
    t.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    t.resourceCountIs('AWS::SNS::Subscription', 2);
    t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    t.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    for (const metric of ['RunsPartiallyFailed', 'RunsFailed']) {
      t.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'QsBackup',
        MetricName: metric,
        Dimensions: [{ Name: 'Policy', Value: 'lifecycle' }],
        Threshold: 1,
        AlarmActions: [{ Ref: Match.stringLikeRegexp('Topic') }],
      });
    }
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([Match.objectLike({ MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'ExecutionsFailed', Namespace: 'AWS/States' }) }) })]),
      AlarmActions: [{ Ref: Match.stringLikeRegexp('Topic') }],
    });
    t.hasResourceProperties('AWS::Events::Rule', { EventPattern: Match.objectLike({ detail: Match.objectLike({ status: ['SUCCEEDED'] }) }) });
  });

  test('no hard-coded physical names', () => {
    const named: string[] = [];
    const nameProps = ['BucketName', 'TableName', 'FunctionName', 'RoleName', 'StateMachineName', 'TopicName', 'QueueName', 'LogGroupName', 'Name', 'AlarmName'];
    for (const [id, r] of Object.entries(template.Resources as Record<string, any>)) {
      for (const p of nameProps) if (r.Properties?.[p] !== undefined && r.Type !== 'AWS::IAM::Policy') named.push(`${id}.${p}`);
    }
    expect(named).toEqual([]);
  });
});

describe('other policy shapes', () => {
  test('schedule disabled, identities off, no notifications (fixture quiet.yaml)', () => {
    const template = only(synthPolicy(fixture('quiet.yaml')).templates);
    const t = Template.fromJSON(template);
    t.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 2 * * ? *)',
      ScheduleExpressionTimezone: 'UTC',
      State: 'DISABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
    });
    t.resourceCountIs('AWS::SNS::Topic', 0);
    t.resourceCountIs('AWS::KMS::Key', 0);
    t.resourceCountIs('AWS::Events::Rule', 0);
    // Alarms exist (visible in the console) but have nowhere to send.
    for (const a of Object.values(resourcesOf(template, 'AWS::CloudWatch::Alarm'))) expect(a.Properties.AlarmActions).toBeUndefined();
    const def = definitionOf(template) as any;
    expect(def.States.Backup.Branches[0]).toEqual({ StartAt: 'SkipIdentities', States: { SkipIdentities: expect.objectContaining({ Type: 'Pass' }) } });
  });

  test('an existing bucket and SSE-KMS key are imported and granted, not created (multi-account bi-prod)', () => {
    const { templates } = synthPolicy(path.join(EXAMPLES_DIR, 'multi-account.yaml'));
    const template = templates['QsBackup-bi-estate-333333333333-eu-west-1'];
    const t = Template.fromJSON(template);
    t.resourceCountIs('AWS::S3::Bucket', 0);
    const fn = Object.values(resourcesOf(template, 'AWS::Lambda::Function'))[0];
    expect(fn.Properties.Environment.Variables).toMatchObject({
      QSBACKUP_BUCKET: 'bi-prod-quicksight-backups',
      QSBACKUP_KMS_KEY_ARN: 'arn:aws:kms:eu-west-1:333333333333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    });
    const store = stepPolicies(template)['qsbackup-store-bundle'].statements;
    expect(store).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Resource: 'arn:aws:s3:::bi-prod-quicksight-backups/qsbackup/333333333333/eu-west-1/*' }),
        expect.objectContaining({
          Sid: 'StorageKey',
          Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
          Resource: 'arn:aws:kms:eu-west-1:333333333333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
          Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } },
        }),
      ]),
    );
    // Its own schedule override and time zone.
    t.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(0 3 * * ? *)', ScheduleExpressionTimezone: 'Europe/Dublin' });
  });

  test('a KMS key given by alias is granted through kms:ResourceAliases (IAM cannot match alias ARNs)', () => {
    const file = tempPolicy(
      'version: 1\nname: alias\ntargets: [{account: "111111111111"}]\nstorage:\n  s3:\n    bucket: my-backups\n    kmsKeyArn: arn:aws:kms:us-east-1:111111111111:alias/backups\n',
    );
    const template = only(synthPolicy(file).templates);
    const key = stepPolicies(template)['qsbackup-finalize'].statements.find((s) => s.Sid === 'StorageKeyByAlias');
    expect(key).toEqual({
      Sid: 'StorageKeyByAlias',
      Effect: 'Allow',
      Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
      Resource: 'arn:aws:kms:us-east-1:111111111111:key/*',
      Condition: {
        StringEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' },
        'ForAnyValue:StringEquals': { 'kms:ResourceAliases': ['alias/backups'] },
      },
    });
  });

  test('an existing SNS topic receives the alarms (whole-account-gfs)', () => {
    const template = only(synthPolicy(path.join(EXAMPLES_DIR, 'whole-account-gfs.yaml')).templates);
    const t = Template.fromJSON(template);
    t.resourceCountIs('AWS::SNS::Topic', 0);
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'RunsPartiallyFailed',
      AlarmActions: ['arn:aws:sns:eu-central-1:111122223333:platform-alerts'],
    });
    // Users and groups are read in the identity Region.
    const identities = stepPolicies(template)['qsbackup-identities'].statements.find((s) => s.Sid === 'ReadIdentities');
    expect([...identities.Resource].sort()).toEqual(['arn:aws:quicksight:us-east-1:111122223333:group/*', 'arn:aws:quicksight:us-east-1:111122223333:user/*']);
  });

  test('a stack-created KMS key encrypts the bucket when asked (kmsEncryptedBucket)', () => {
    const { App, Stack } = require('aws-cdk-lib') as typeof import('aws-cdk-lib');
    const { QuickSightBackup } = require('../lib/quicksight-backup') as typeof import('../lib/quicksight-backup');
    const { placeholderCode } = require('../lib/lambda-code') as typeof import('../lib/lambda-code');
    const { loadPolicy, resolveTargets } = require('../lib/policy') as typeof import('../lib/policy');
    const [target] = resolveTargets(loadPolicy(path.join(EXAMPLES_DIR, 'minimal.yaml')));
    const stack = new Stack(new App(), 'Kms', { env: { account: target.account, region: target.region } });
    new QuickSightBackup(stack, 'Backup', { policy: target, code: () => placeholderCode(), kmsEncryptedBucket: true, lifecycleExpiration: true });
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' }, BucketKeyEnabled: true }] },
    });
    t.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });
});
