// The backup workflow as one Step Functions definition, built from CDK constructs. It is the
// cloud host of the step functions in runtime/core (see DESIGN.md): the same steps, the same
// JSON contracts. State names are part of the contract with the e2e runner and the tests.

import { Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { STEP_SETTINGS } from './defaults';
import type { StepBinary } from './permissions';

/** Suffix of the states inside the Distributed Map: state names are unique per state machine. */
export const DISTRIBUTED_SUFFIX = '-Distributed';

/** The states that invoke a Lambda, and which binary each one runs. */
export const TASK_BINARIES: Record<string, StepBinary> = {
  Begin: 'qsbackup-begin',
  Identities: 'qsbackup-identities',
  Discover: 'qsbackup-discover',
  StartExport: 'qsbackup-start-export',
  CheckExport: 'qsbackup-check-export',
  StoreBundle: 'qsbackup-store-bundle',
  SplitBatch: 'qsbackup-split-batch',
  [`StartExport${DISTRIBUTED_SUFFIX}`]: 'qsbackup-start-export',
  [`CheckExport${DISTRIBUTED_SUFFIX}`]: 'qsbackup-check-export',
  [`StoreBundle${DISTRIBUTED_SUFFIX}`]: 'qsbackup-store-bundle',
  [`SplitBatch${DISTRIBUTED_SUFFIX}`]: 'qsbackup-split-batch',
  Finalize: 'qsbackup-finalize',
  Prune: 'qsbackup-prune',
};

/** Stable error names every handler throws (errorType), see runtime/lambda. */
export const ERRORS = {
  retryable: 'Retryable',
  throttled: 'Throttled',
  nonRetryable: 'NonRetryable',
  assetFailed: 'AssetFailed',
} as const;

/** Errors of the Lambda service itself (not of our code): always worth a retry. */
const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

export interface WorkflowProps {
  /** The Lambda of each step binary. */
  readonly functions: Record<StepBinary, lambda.IFunction>;
  /** Export jobs in flight at once (the Map's MaxConcurrency), 1–5. */
  readonly concurrentJobs: number;
  /** Whether the policy backs up identities at all; when false the branch is a Pass. */
  readonly identitiesEnabled: boolean;
}

/**
 * Retry with exponential backoff and full jitter (so many accounts on the same schedule do not
 * retry in lockstep). NonRetryable and AssetFailed are never retried.
 */
function addRetries(task: sfn.TaskStateBase): void {
  task.addRetry({
    errors: LAMBDA_SERVICE_ERRORS,
    interval: Duration.seconds(2),
    maxAttempts: 6,
    backoffRate: 2,
    maxDelay: Duration.seconds(60),
    jitterStrategy: sfn.JitterType.FULL,
  });
  task.addRetry({
    errors: [ERRORS.throttled],
    interval: Duration.seconds(10),
    maxAttempts: 8,
    backoffRate: 2,
    maxDelay: Duration.seconds(300),
    jitterStrategy: sfn.JitterType.FULL,
  });
  task.addRetry({
    errors: [ERRORS.retryable],
    interval: Duration.seconds(5),
    maxAttempts: 5,
    backoffRate: 2,
    maxDelay: Duration.seconds(120),
    jitterStrategy: sfn.JitterType.FULL,
  });
}

/** Bounds one task a little above its function's own timeout (a lost invocation cannot hang the run). */
function taskTimeout(binary: StepBinary): sfn.Timeout {
  return sfn.Timeout.duration(STEP_SETTINGS[binary].timeout.plus(Duration.minutes(1)));
}

/** A Lambda task whose output is the function's response payload itself (no envelope). */
function step(scope: Construct, name: string, fns: Record<StepBinary, lambda.IFunction>, payload?: Record<string, unknown>, resultPath?: string) {
  const binary = TASK_BINARIES[name];
  const task = new tasks.LambdaInvoke(scope, name, {
    lambdaFunction: fns[binary],
    payloadResponseOnly: true,
    retryOnServiceExceptions: false, // addRetries covers them, with jitter
    payload: payload ? sfn.TaskInput.fromObject(payload) : undefined,
    resultPath,
    taskTimeout: taskTimeout(binary),
  });
  addRetries(task);
  return task;
}

/**
 * One batch: StartExport → Wait → CheckExport → (Pending: wait again | Succeeded: StoreBundle |
 * Failed: SplitBatch) → done? → finished, or StartExport again for the ranges still pending.
 * Any error ends the iteration in BatchFailed, whose output `{batch, error}` lets the others go on.
 */
function batchProcessor(scope: Construct, suffix: string, fns: Record<StepBinary, lambda.IFunction>): sfn.IChainable {
  const n = (base: string) => `${base}${suffix}`;
  const batchFailed = new sfn.Pass(scope, n('BatchFailed'), {
    parameters: { 'batch.$': '$.batch', 'error.$': '$.error' },
  });
  const catchAll = (task: sfn.TaskStateBase) => task.addCatch(batchFailed, { errors: ['States.ALL'], resultPath: '$.error' });

  // Re-entering after a partial store sends BatchWork only (StoreBundle/SplitBatch add `done`).
  const startExport = step(scope, n('StartExport'), fns, {
    'runId.$': '$.runId',
    'batch.$': '$.batch',
    'pending.$': '$.pending',
  });
  const wait = new sfn.Wait(scope, n('WaitForExport'), { time: sfn.WaitTime.secondsPath('$.waitSeconds') });
  const checkExport = step(scope, n('CheckExport'), fns);
  const storeBundle = step(scope, n('StoreBundle'), fns);
  const splitBatch = step(scope, n('SplitBatch'), fns);
  [startExport, checkExport, storeBundle, splitBatch].forEach(catchAll);

  const exported = new sfn.Succeed(scope, n('BatchExported'));
  const batchDone = new sfn.Choice(scope, n('BatchDone'))
    .when(sfn.Condition.booleanEquals('$.done', true), exported)
    .otherwise(startExport);
  storeBundle.next(batchDone);
  splitBatch.next(batchDone);

  const status = new sfn.Choice(scope, n('ExportStatus'))
    .when(sfn.Condition.stringEquals('$.status', 'Pending'), wait)
    .when(sfn.Condition.stringEquals('$.status', 'Succeeded'), storeBundle)
    // Failed, and anything unexpected: isolate the failing asset rather than lose the batch.
    .otherwise(splitBatch);

  return startExport.next(wait).next(checkExport).next(status);
}

/** Builds the whole definition. */
export function buildWorkflow(scope: Construct, props: WorkflowProps): sfn.DefinitionBody {
  const fns = props.functions;
  if (!Number.isInteger(props.concurrentJobs) || props.concurrentJobs < 1 || props.concurrentJobs > 5) {
    throw new Error(`concurrentJobs must be 1–5 (QuickSight runs at most 5 export jobs per account), got ${props.concurrentJobs}`);
  }

  // Begin gets `{mode?, executionName}`: the execution input (the schedule sends the policy's
  // mode; an on-demand start may send `{}` or `{"mode": ...}`) plus the execution name.
  const prepare = new sfn.Pass(scope, 'Prepare', {
    parameters: { 'input.$': '$', context: { 'executionName.$': '$$.Execution.Name' } },
  });
  const begin = new tasks.LambdaInvoke(scope, 'Begin', {
    lambdaFunction: fns['qsbackup-begin'],
    payload: sfn.TaskInput.fromJsonPathAt('States.JsonMerge($.context, $.input, false)'),
    retryOnServiceExceptions: false,
    resultSelector: { 'runId.$': '$.Payload.runId', 'mode.$': '$.Payload.mode', 'startedAt.$': '$.Payload.startedAt' },
    taskTimeout: taskTimeout('qsbackup-begin'),
  });
  addRetries(begin);
  // NonRetryable from Begin means another run holds the lock (or the request is invalid): stop.
  const notStarted = new sfn.Fail(scope, 'RunNotStarted', { errorPath: '$.Error', causePath: '$.Cause' });
  begin.addCatch(notStarted, { errors: [ERRORS.nonRetryable] });

  // Branch 1: identities. Its failure is data for Finalize, not the end of the run.
  let identitiesBranch: sfn.IChainable;
  const skipIdentities = new sfn.Pass(scope, 'SkipIdentities', {
    parameters: { 'runId.$': '$.runId', namespaces: 0, users: 0, groups: 0, memberships: 0 },
  });
  if (props.identitiesEnabled) {
    const identities = step(scope, 'Identities', fns, { 'runId.$': '$.runId' });
    identities.addCatch(new sfn.Pass(scope, 'IdentitiesFailed'), { errors: ['States.ALL'] });
    identitiesBranch = new sfn.Choice(scope, 'IdentitiesWanted')
      .when(sfn.Condition.stringEquals('$.mode', 'assets-only'), skipIdentities)
      .otherwise(identities);
  } else {
    identitiesBranch = skipIdentities;
  }

  // Branch 2: assets. Small plans travel inline; large ones are read from S3 by a Distributed Map.
  const discover = step(scope, 'Discover', fns, { 'runId.$': '$.runId', 'mode.$': '$.mode' });
  discover.addCatch(new sfn.Pass(scope, 'DiscoverFailed'), { errors: ['States.ALL'] });

  const inlineMap = new sfn.Map(scope, 'ExportBatches', {
    itemsPath: '$.batches',
    maxConcurrency: props.concurrentJobs,
  });
  inlineMap.itemProcessor(batchProcessor(scope, '', fns));

  const distributedMap = new sfn.DistributedMap(scope, 'ExportBatchesDistributed', {
    maxConcurrency: props.concurrentJobs,
    itemReader: new sfn.S3JsonItemReader({
      bucketNamePath: sfn.JsonPath.stringAt('$.batchesBucket'),
      key: sfn.JsonPath.stringAt('$.batchesKey'),
    }),
    mapExecutionType: sfn.StateMachineType.STANDARD, // export polling outlasts Express's 5 minutes
  });
  distributedMap.itemProcessor(batchProcessor(scope, DISTRIBUTED_SUFFIX, fns));

  const planInline = new sfn.Choice(scope, 'PlanInline')
    .when(sfn.Condition.booleanEquals('$.inline', true), inlineMap)
    .otherwise(distributedMap);
  const exportBranch = discover.next(planInline);

  const backup = new sfn.Parallel(scope, 'Backup', {
    resultSelector: { 'identities.$': '$[0]', 'export.$': '$[1]' },
    resultPath: '$.results',
  });
  backup.branch(identitiesBranch);
  backup.branch(exportBranch);

  const finalize = step(scope, 'Finalize', fns, {
    'runId.$': '$.runId',
    'identities.$': '$.results.identities',
    'export.$': '$.results.export',
  });
  // Retention runs after the manifest is committed; its failure does not undo a good backup.
  const prune = step(scope, 'Prune', fns, {}, '$.prune');
  const pruneFailed = new sfn.Pass(scope, 'PruneFailed');
  prune.addCatch(pruneFailed, { errors: ['States.ALL'], resultPath: '$.prune' });

  // The cause names the run and its manifest (computed in a Pass: Fail's CausePath takes a path).
  const describeFailure = new sfn.Pass(scope, 'DescribeFailure', {
    parameters: { cause: sfn.JsonPath.format('Run {} failed; see {}', sfn.JsonPath.stringAt('$.runId'), sfn.JsonPath.stringAt('$.manifestKey')) },
  });
  const runFailed = new sfn.Fail(scope, 'RunFailed', { error: 'RunFailed', causePath: '$.cause' });
  const runStatus = new sfn.Choice(scope, 'RunStatus')
    .when(sfn.Condition.stringEquals('$.status', 'Failed'), describeFailure.next(runFailed))
    .otherwise(new sfn.Succeed(scope, 'RunSucceeded'));
  prune.next(runStatus);
  pruneFailed.next(runStatus);

  return sfn.DefinitionBody.fromChainable(prepare.next(begin).next(backup).next(finalize).next(prune));
}
