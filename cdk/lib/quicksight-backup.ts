// The QuickSightBackup construct: everything one account/Region needs to back up QuickSight on a
// schedule — storage, catalog tables, the step Lambdas, the workflow, the schedule, alarms.
// Decisions about the workflow live in workflow.ts, IAM actions in permissions.ts, defaults in
// defaults.ts; this file wires them together.

import { Arn, ArnFormat, Duration, RemovalPolicy, Stack, TimeZone } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventsTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import { DEFAULTS, STEP_SETTINGS } from './defaults';
import { CodeProvider, defaultCodeProvider } from './lambda-code';
import { acknowledge, acknowledgeWildcards } from './nag';
import { kmsThroughS3, PermissionContext, RESOURCE_NOTES, STEP_BINARIES, StepBinary, stepStatements } from './permissions';
import type { TargetPolicy } from './policy';
import { buildWorkflow } from './workflow';

/** A bucket in a separate backup account (see CentralVaultStack) that receives the backups. */
export interface CentralVaultRef {
  /** Name of the vault bucket. */
  readonly bucketName: string;
  /** Account that owns the vault. */
  readonly account: string;
  /**
   * Region of the vault bucket.
   * @default - the stack's Region
   */
  readonly region?: string;
  /**
   * ARN of the vault's KMS key, to scope the KMS permissions to it.
   * @default - any key of the vault account, through S3 only
   */
  readonly kmsKeyArn?: string;
}

export interface QuickSightBackupProps {
  /** The target's resolved policy (`resolveTarget` in policy.ts). */
  readonly policy: TargetPolicy;
  /**
   * Code of each step binary.
   * @default - `target/lambda/<binary>/bootstrap.zip`, or a placeholder when QSBACKUP_SKIP_BUNDLING=1
   */
  readonly code?: CodeProvider;
  /**
   * Memory of the step Lambdas, in MiB.
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * What happens to the bucket, tables and keys when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * How long Lambda and workflow logs are kept.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Encrypt a stack-created bucket with a stack-created KMS key (rotation on) instead of SSE-S3.
   * Ignored when the policy names `storage.s3.kmsKeyArn` or an existing bucket.
   * @default false
   */
  readonly kmsEncryptedBucket?: boolean;
  /**
   * Also let S3 lifecycle expire objects after `retention.deleteAfterDays`. Off by default
   * because prune already applies it while keeping the newest successful run.
   * @default false
   */
  readonly lifecycleExpiration?: boolean;
  /**
   * Write backups to a central vault in another account instead of a bucket of this account.
   * @default - no vault: the policy's storage
   */
  readonly centralVault?: CentralVaultRef;
  /**
   * Instruction set of the Lambda functions; must match how the handlers were built
   * (`cargo lambda build --arm64` or `--x86-64`).
   * @default lambda.Architecture.ARM_64
   */
  readonly lambdaArchitecture?: lambda.Architecture;
}

/** Backs up the QuickSight assets and identities of one account and Region on a schedule. */
export class QuickSightBackup extends Construct {
  readonly bucket: s3.IBucket;
  readonly catalogTable: dynamodb.TableV2;
  readonly lockTable: dynamodb.TableV2;
  readonly identityTable: dynamodb.TableV2;
  readonly functions: Record<StepBinary, lambda.Function>;
  readonly stateMachine: sfn.StateMachine;
  readonly schedule: scheduler.Schedule;
  readonly topic?: sns.ITopic;
  /** The stack-created KMS key, when one was needed. */
  readonly key?: kms.Key;

  private readonly policy: TargetPolicy;
  private readonly removalPolicy: RemovalPolicy;

  constructor(scope: Construct, id: string, props: QuickSightBackupProps) {
    super(scope, id);
    // Access logs are delivered under a bucket policy (the modern way), so both buckets can
    // enforce bucket-owner ownership whatever the app's feature flags say.
    this.node.setContext(cxapi.S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true);
    const policy = (this.policy = props.policy);
    this.removalPolicy = props.removalPolicy ?? DEFAULTS.removalPolicy;
    const stack = Stack.of(this);

    if (policy.storage.local !== undefined) {
      throw new Error(
        `Policy ${policy.name}, target ${policy.account}/${policy.region}: storage.local (${policy.storage.local.path}) ` +
          'is for runs from a laptop and cannot be deployed; use storage.s3 (or leave storage out for a stack-created bucket).',
      );
    }
    const s3Storage = policy.storage.s3 ?? {};
    const wantsTopic = policy.notifications.snsTopicArn === undefined && policy.notifications.emails.length > 0;
    const wantsBucketKey =
      props.centralVault === undefined && s3Storage.bucket === undefined && s3Storage.kmsKeyArn === undefined && (props.kmsEncryptedBucket ?? false);
    if (wantsTopic || wantsBucketKey) {
      this.key = new kms.Key(this, 'Key', {
        description: `qsbackup ${policy.name}: backups and notifications`,
        enableKeyRotation: true,
        removalPolicy: this.removalPolicy,
      });
    }

    // ---- storage ------------------------------------------------------------------------
    let storageKey: kms.IKey | undefined;
    let storageKeyArns: string[] = [];
    let kmsKeyArnEnv: string | undefined;
    if (props.centralVault) {
      const v = props.centralVault;
      this.bucket = s3.Bucket.fromBucketAttributes(this, 'VaultBucket', {
        bucketName: v.bucketName,
        account: v.account,
        region: v.region ?? stack.region,
      });
      storageKeyArns = [v.kmsKeyArn ?? `arn:${stack.partition}:kms:${v.region ?? stack.region}:${v.account}:key/*`];
      kmsKeyArnEnv = v.kmsKeyArn;
    } else {
      if (s3Storage.kmsKeyArn !== undefined) {
        storageKey = importKey(this, s3Storage.kmsKeyArn);
        kmsKeyArnEnv = s3Storage.kmsKeyArn;
      } else if (wantsBucketKey) {
        storageKey = this.key;
        kmsKeyArnEnv = this.key!.keyArn;
      }
      if (s3Storage.kmsKeyArn !== undefined) storageKeyArns = [s3Storage.kmsKeyArn];
      else if (storageKey) storageKeyArns = [storageKey.keyArn];
      this.bucket = s3Storage.bucket !== undefined ? s3.Bucket.fromBucketName(this, 'Bucket', s3Storage.bucket) : this.createBucket(storageKey, props);
    }

    const tableProps = {
      billing: dynamodb.Billing.onDemand(),
      encryption: dynamodb.TableEncryptionV2.awsManagedKey(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'expiresAt',
      removalPolicy: this.removalPolicy,
      deletionProtection: this.removalPolicy === RemovalPolicy.RETAIN,
    };
    const str = dynamodb.AttributeType.STRING;
    // One item per run; partition = "<account>/<region>" so one table can hold several scopes.
    this.catalogTable = new dynamodb.TableV2(this, 'CatalogTable', {
      ...tableProps,
      partitionKey: { name: 'scope', type: str },
      sortKey: { name: 'runId', type: str },
    });
    // The run lock: a conditional write with a lease; TTL clears leases of crashed runs.
    this.lockTable = new dynamodb.TableV2(this, 'LockTable', { ...tableProps, partitionKey: { name: 'lockId', type: str } });
    // Identity snapshot: one partition per run; TTL implements retention.
    this.identityTable = new dynamodb.TableV2(this, 'IdentityTable', {
      ...tableProps,
      partitionKey: { name: 'runId', type: str },
      sortKey: { name: 'itemKey', type: str },
    });

    // ---- step Lambdas -------------------------------------------------------------------
    const policyJson = JSON.stringify(policy.document);
    const policyBytes = Buffer.byteLength(policyJson, 'utf8');
    if (policyBytes > DEFAULTS.maxPolicyJsonBytes) {
      throw new Error(
        `Policy ${policy.name}, target ${policy.account}/${policy.region}: the resolved policy is ${policyBytes} bytes as JSON; ` +
          `Lambda environment variables allow at most ${DEFAULTS.maxPolicyJsonBytes} for QSBACKUP_POLICY_JSON. ` +
          'Shorten descriptions or selection rules.',
      );
    }
    const environment: Record<string, string> = {
      QSBACKUP_POLICY_JSON: policyJson,
      QSBACKUP_BUCKET: this.bucket.bucketName,
      QSBACKUP_PREFIX: policy.storage.prefix,
      QSBACKUP_CATALOG_TABLE: this.catalogTable.tableName,
      QSBACKUP_LOCK_TABLE: this.lockTable.tableName,
      QSBACKUP_IDENTITY_TABLE: this.identityTable.tableName,
      QSBACKUP_ACCOUNT: stack.account,
      QSBACKUP_REGION: stack.region,
      ...(kmsKeyArnEnv !== undefined ? { QSBACKUP_KMS_KEY_ARN: kmsKeyArnEnv } : {}),
      // The vault denies deletes to source accounts; its lifecycle rules enforce retention, and
      // prune only reports what it would delete.
      ...(props.centralVault !== undefined ? { QSBACKUP_PRUNE: 'report' } : {}),
      RUST_LOG: 'info',
    };
    const scopePrefix = `${policy.storage.prefix}/${stack.account}/${stack.region}`;
    const ctx: PermissionContext = {
      partition: stack.partition,
      account: stack.account,
      region: stack.region,
      identityRegion: policy.identityRegion,
      bucketArn: this.bucket.bucketArn,
      scopeObjectsArn: `${this.bucket.bucketArn}/${scopePrefix}/*`,
      catalogTableArn: this.catalogTable.tableArn,
      lockTableArn: this.lockTable.tableArn,
      identityTableArn: this.identityTable.tableArn,
      storageKeyArns,
      allowDeletes: props.centralVault === undefined,
      metricNamespace: DEFAULTS.metricNamespace,
    };
    const code = props.code ?? defaultCodeProvider();
    const functions = {} as Record<StepBinary, lambda.Function>;
    for (const binary of STEP_BINARIES) {
      functions[binary] = this.createFunction(binary, code(binary), environment, ctx, props);
    }
    this.functions = functions;

    // ---- workflow and schedule ----------------------------------------------------------
    const sfnLogs = new logs.LogGroup(this, 'WorkflowLogs', {
      retention: props.logRetention ?? DEFAULTS.logRetention,
      removalPolicy: this.removalPolicy,
    });
    this.stateMachine = new sfn.StateMachine(this, 'Workflow', {
      comment: `qsbackup ${policy.name}: back up QuickSight of ${policy.account}/${policy.region}`,
      definitionBody: buildWorkflow(new Construct(this, 'States'), {
        functions,
        concurrentJobs: Math.min(policy.concurrentJobs, DEFAULTS.maxConcurrentJobs),
        identitiesEnabled: policy.identitiesEnabled,
      }),
      stateMachineType: sfn.StateMachineType.STANDARD,
      timeout: DEFAULTS.stateMachineTimeout,
      tracingEnabled: true,
      logs: { destination: sfnLogs, level: sfn.LogLevel.ALL, includeExecutionData: true },
    });
    // The Distributed Map reads the batch list (batches.json) that Discover wrote.
    this.stateMachine.addToRolePolicy(new iam.PolicyStatement({ sid: 'ReadBatchList', actions: ['s3:GetObject'], resources: [ctx.scopeObjectsArn] }));
    for (const s of kmsThroughS3('DecryptBatchList', ['kms:Decrypt'], storageKeyArns, stack.region)) this.stateMachine.addToRolePolicy(s);

    for (const id of ['Role/DefaultPolicy', 'DistributedMapPolicy']) {
      const p = this.stateMachine.node.tryFindChild(id.split('/')[0]);
      const policyNode = id.includes('/') ? p?.node.tryFindChild('DefaultPolicy') : p;
      if (policyNode instanceof iam.Policy) acknowledgeWildcards(policyNode, workflowWildcardReason);
    }

    const dlq = new sqs.Queue(this, 'ScheduleDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledge(dlq, 'AwsSolutions-SQS3', 'This queue is the dead-letter queue of the EventBridge Scheduler target; a queue for it would only move the problem.');
    const sched = policy.schedule;
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: `qsbackup ${policy.name}: ${sched.expression} (${sched.timeZone})`,
      schedule: scheduler.ScheduleExpression.expression(sched.expression, TimeZone.of(sched.timeZone)),
      target: new schedulerTargets.StepFunctionsStartExecution(this.stateMachine, {
        input: scheduler.ScheduleTargetInput.fromObject({ mode: policy.mode }),
        deadLetterQueue: dlq,
        retryAttempts: DEFAULTS.schedulerRetryAttempts,
        maxEventAge: DEFAULTS.schedulerMaxEventAge,
      }),
      enabled: sched.enabled,
      timeWindow:
        sched.startWindowMinutes !== undefined ? scheduler.TimeWindow.flexible(Duration.minutes(sched.startWindowMinutes)) : scheduler.TimeWindow.off(),
    });

    // ---- notifications ------------------------------------------------------------------
    if (policy.notifications.snsTopicArn !== undefined) {
      this.topic = sns.Topic.fromTopicArn(this, 'Topic', policy.notifications.snsTopicArn);
    } else if (wantsTopic) {
      const topic = new sns.Topic(this, 'Topic', { masterKey: this.key, enforceSSL: true, displayName: `qsbackup ${policy.name}` });
      for (const email of policy.notifications.emails) topic.addSubscription(new subscriptions.EmailSubscription(email));
      // CloudWatch alarms and EventBridge publish to the encrypted topic: they need the key.
      this.key!.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AllowAlarmAndEventPublishing',
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com'), new iam.ServicePrincipal('events.amazonaws.com')],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
        }),
      );
      this.topic = topic;
    }
    this.createAlarms(dlq);
  }

  private createBucket(key: kms.IKey | undefined, props: QuickSightBackupProps): s3.Bucket {
    const { retention, storage } = this.policy;
    const lock = storage.s3?.objectLock;
    const accessLogs = new s3.Bucket(this, 'AccessLogs', {
      // Server access logs can only be delivered to an SSE-S3 bucket.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'ExpireAccessLogs', expiration: DEFAULTS.accessLogExpiration, noncurrentVersionExpiration: Duration.days(30) }],
      removalPolicy: this.removalPolicy,
    });
    acknowledge(accessLogs, 'AwsSolutions-S1', 'This is the server access log bucket of the backup bucket; logging it would need yet another bucket.');

    const expire = (props.lifecycleExpiration ?? DEFAULTS.lifecycleExpiration) && retention.deleteAfterDays !== undefined;
    const rules: s3.LifecycleRule[] = [
      {
        id: 'Retention',
        abortIncompleteMultipartUploadAfter: DEFAULTS.abortIncompleteMultipartUpload,
        // Objects prune deleted (or overwrote) stay recoverable for a while, then go.
        noncurrentVersionExpiration: DEFAULTS.noncurrentVersionExpiration,
        transitions:
          retention.coldStorageAfterDays !== undefined
            ? [{ storageClass: s3.StorageClass.GLACIER, transitionAfter: Duration.days(retention.coldStorageAfterDays) }]
            : undefined,
        expiration: expire ? Duration.days(retention.deleteAfterDays!) : undefined,
        // Mutually exclusive with an expiration in S3.
        expiredObjectDeleteMarker: expire ? undefined : true,
      },
    ];
    return new s3.Bucket(this, 'Backups', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      encryption: key ? s3.BucketEncryption.KMS : s3.BucketEncryption.S3_MANAGED,
      encryptionKey: key,
      bucketKeyEnabled: key !== undefined ? true : undefined,
      objectLockEnabled: lock !== undefined ? true : undefined,
      objectLockDefaultRetention:
        lock === undefined
          ? undefined
          : lock.mode === 'COMPLIANCE'
            ? s3.ObjectLockRetention.compliance(Duration.days(lock.days))
            : s3.ObjectLockRetention.governance(Duration.days(lock.days)),
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'backups/',
      lifecycleRules: rules,
      removalPolicy: this.removalPolicy,
    });
  }

  private createFunction(
    binary: StepBinary,
    code: lambda.Code,
    environment: Record<string, string>,
    ctx: PermissionContext,
    props: QuickSightBackupProps,
  ): lambda.Function {
    const id = `${pascal(binary.replace(/^qsbackup-/, ''))}Fn`;
    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      retention: props.logRetention ?? DEFAULTS.logRetention,
      removalPolicy: this.removalPolicy,
    });
    // An own role per step (no AWS managed policy): each step gets only what it calls.
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `qsbackup ${binary}`,
    });
    const policy = new iam.Policy(this, `${id}Policy`, {
      statements: [
        new iam.PolicyStatement({ sid: 'Logs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
        ...stepStatements(binary, ctx),
      ],
    });
    role.attachInlinePolicy(policy);
    acknowledgeWildcards(policy, stepWildcardReason);

    const settings = STEP_SETTINGS[binary];
    const fn = new lambda.Function(this, id, {
      description: `qsbackup ${this.policy.name}: ${binary}`,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: props.lambdaArchitecture ?? lambda.Architecture.ARM_64,
      handler: 'bootstrap',
      code,
      memorySize: settings.memorySize ?? props.memorySize ?? DEFAULTS.memorySize,
      timeout: settings.timeout,
      environment,
      role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
    });
    fn.node.addDependency(policy); // the role must be allowed to log before the first invocation
    return fn;
  }

  private createAlarms(dlq: sqs.Queue): void {
    const { name, notifications } = this.policy;
    const action = this.topic ? new cwActions.SnsAction(this.topic) : undefined;
    const notify = (alarm: cloudwatch.Alarm, on: 'failed' | 'partiallyFailed') => {
      if (action && notifications.on.includes(on)) alarm.addAlarmAction(action);
    };
    const common = {
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    };
    const period = Duration.minutes(5);
    notify(
      new cloudwatch.Alarm(this, 'FailedExecutions', {
        ...common,
        alarmDescription: `qsbackup ${name}: a backup execution failed, timed out or was aborted`,
        metric: new cloudwatch.MathExpression({
          expression: 'failed + timedOut + aborted',
          usingMetrics: {
            failed: this.stateMachine.metricFailed({ period }),
            timedOut: this.stateMachine.metricTimedOut({ period }),
            aborted: this.stateMachine.metricAborted({ period }),
          },
          period,
        }),
      }),
      'failed',
    );
    const runMetric = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: DEFAULTS.metricNamespace,
        metricName,
        dimensionsMap: { [DEFAULTS.metricDimension]: name },
        statistic: 'Sum',
        period,
      });
    notify(
      new cloudwatch.Alarm(this, 'FailedRuns', { ...common, alarmDescription: `qsbackup ${name}: a run finished as Failed`, metric: runMetric('RunsFailed') }),
      'failed',
    );
    notify(
      new cloudwatch.Alarm(this, 'PartiallyFailedRuns', {
        ...common,
        alarmDescription: `qsbackup ${name}: a run finished with some assets failed`,
        metric: runMetric('RunsPartiallyFailed'),
      }),
      'partiallyFailed',
    );
    notify(
      new cloudwatch.Alarm(this, 'ScheduleNotDelivered', {
        ...common,
        alarmDescription: `qsbackup ${name}: the scheduler could not start a backup (see the dead-letter queue)`,
        metric: dlq.metricApproximateNumberOfMessagesVisible({ period }),
      }),
      'failed',
    );
    if (this.topic && notifications.on.includes('completed')) {
      // A finished run: Completed or PartiallyFailed (a Failed run ends in a Fail state).
      new events.Rule(this, 'RunFinished', {
        description: `qsbackup ${name}: a backup run finished`,
        eventPattern: {
          source: ['aws.states'],
          detailType: ['Step Functions Execution Status Change'],
          detail: { status: ['SUCCEEDED'], stateMachineArn: [this.stateMachine.stateMachineArn] },
        },
        targets: [
          new eventsTargets.SnsTopic(this.topic, {
            message: events.RuleTargetInput.fromText(
              `qsbackup ${name}: backup run ${events.EventField.fromPath('$.detail.name')} finished (status in its output and manifest).`,
            ),
          }),
        ],
      });
    }
  }
}

/** Imports a key given by key ARN or alias ARN. */
function importKey(scope: Construct, arn: string): kms.IKey {
  const parts = Arn.split(arn, ArnFormat.SLASH_RESOURCE_NAME);
  if (parts.resource === 'alias') return kms.Alias.fromAliasName(scope, 'StorageKey', `alias/${parts.resourceName}`);
  return kms.Key.fromKeyArn(scope, 'StorageKey', arn);
}

function pascal(s: string): string {
  return s.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
}


/** Why a wildcard of the state machine role cannot be narrower. */
function workflowWildcardReason(finding: string): string | undefined {
  if (finding === 'Resource::*') {
    return 'X-Ray tracing (xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) and CloudWatch Logs delivery (logs:CreateLogDelivery and friends) take no resource.';
  }
  if (/^Resource::<[A-Za-z0-9]+\.Arn>:\*$/.test(finding)) {
    return "Step Functions' Lambda integration also grants the function's versions and aliases (`<function arn>:*`); the workflow invokes only its own step functions.";
  }
  if (finding.includes(':execution:')) {
    return "The Distributed Map starts, describes and stops child executions of this state machine only; their names are generated at run time.";
  }
  if (finding.includes('.Arn>/') || finding.includes(':s3:::')) return `The Distributed Map reads batches.json. ${RESOURCE_NOTES.s3Scope}`;
  if (finding.includes(':kms:')) return RESOURCE_NOTES.kms;
  return undefined;
}

/** Why a step policy's wildcard cannot be narrower (undefined: not expected, let nag fail). */
function stepWildcardReason(finding: string): string | undefined {
  if (finding === 'Resource::*') return RESOURCE_NOTES.quicksightList;
  if (!finding.startsWith('Resource::')) return undefined;
  if (finding.includes(':quicksight:')) return RESOURCE_NOTES.quicksightTypes;
  if (finding.includes(':kms:')) return RESOURCE_NOTES.kms;
  if (finding.includes(':s3:::') || finding.includes('.Arn>/')) return RESOURCE_NOTES.s3Scope;
  return undefined;
}
