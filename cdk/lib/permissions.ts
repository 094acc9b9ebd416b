// The IAM actions of each step Lambda: exactly the AWS calls runtime/lambda (through
// runtime/core) makes, scoped to resources wherever the API allows. When a step starts calling
// something new, add it here in the same change. `RESOURCE_NOTES` documents every `*`.

import * as iam from 'aws-cdk-lib/aws-iam';

/** What the statements are scoped to. Strings may be CDK tokens. */
export interface PermissionContext {
  readonly partition: string;
  readonly account: string;
  /** Region of the QuickSight assets (the target's Region). */
  readonly region: string;
  /** Region of QuickSight users and groups. */
  readonly identityRegion: string;
  readonly bucketArn: string;
  /** `<bucketArn>/<prefix>/<account>/<region>/*`: the only keys this target reads or writes. */
  readonly scopeObjectsArn: string;
  readonly catalogTableArn: string;
  readonly lockTableArn: string;
  readonly identityTableArn: string;
  /** KMS keys (key or alias ARNs) protecting the bucket (SSE-KMS), if any. */
  readonly storageKeyArns: string[];
  /** Whether deletes are allowed (false with a central vault, whose policy denies them). */
  readonly allowDeletes: boolean;
  readonly metricNamespace: string;
}

/** Why some statements cannot name a resource. */
export const RESOURCE_NOTES = {
  quicksightList:
    'QuickSight List* calls (ListDashboards, ListAnalyses, ListDataSets, ListDataSources, ListThemes, ListFolders, ListVPCConnections, ListNamespaces) and the account-level DescribeAccountSettings/DescribeAccountCustomization are not resource-scoped: IAM only matches them with Resource "*".',
  quicksightTypes:
    'Describe/Export calls are scoped to every asset of the type in this account and Region (`arn:aws:quicksight:<region>:<account>:dashboard/*` etc.): the asset ids are only known at run time.',
  s3Scope:
    'Objects are scoped to `<prefix>/<account>/<region>/*`, the one key prefix this target owns; the run id below it is only known at run time.',
  kms: 'A KMS key named by alias (granted with kms:ResourceAliases) or the central vault key in the backup account (its id is not known at synth) can only be granted as `key/*` of that account and Region; the grant is usable through S3 only (kms:ViaService).',
};

const QS_ASSET_TYPES = ['dashboard', 'analysis', 'dataset', 'datasource', 'theme', 'folder', 'vpcConnection'] as const;

function qsArn(ctx: PermissionContext, region: string, type: string): string {
  return `arn:${ctx.partition}:quicksight:${region}:${ctx.account}:${type}/*`;
}

const stmt = (sid: string, actions: string[], resources: string[], conditions?: Record<string, unknown>) =>
  new iam.PolicyStatement({ sid, actions, resources, conditions });

// ---- building blocks -------------------------------------------------------------------

function s3Read(ctx: PermissionContext): iam.PolicyStatement[] {
  return [stmt('ReadRunObjects', ['s3:GetObject'], [ctx.scopeObjectsArn])];
}

function s3Write(ctx: PermissionContext): iam.PolicyStatement[] {
  // Writes are conditional (If-None-Match) single or multipart uploads; a failed multipart
  // upload is aborted. Object Lock comes from the bucket's default retention, so no
  // s3:PutObjectRetention.
  return [stmt('WriteRunObjects', ['s3:PutObject', 's3:AbortMultipartUpload'], [ctx.scopeObjectsArn])];
}

function s3List(ctx: PermissionContext): iam.PolicyStatement[] {
  // ListBucket is also what HeadBucket (the storage check at start-up) needs.
  return [stmt('ListRunObjects', ['s3:ListBucket'], [ctx.bucketArn])];
}

/**
 * KMS statements for keys used through S3 only. A key named by alias ARN is granted as
 * `key/*` of its account and Region with a kms:ResourceAliases condition: IAM does not match
 * alias ARNs against the key a request uses.
 */
export function kmsThroughS3(sid: string, actions: string[], keyArns: string[], region: string): iam.PolicyStatement[] {
  const via = { 'kms:ViaService': `s3.${region}.amazonaws.com` };
  const keys = keyArns.filter((a) => !/:alias\//.test(a));
  const aliases = keyArns.filter((a) => /:alias\//.test(a));
  const out: iam.PolicyStatement[] = [];
  if (keys.length > 0) out.push(stmt(sid, actions, keys, { StringEquals: via }));
  aliases.forEach((alias, i) => {
    const m = /^(arn:[^:]+:kms:[^:]+:[^:]+):(alias\/.+)$/.exec(alias);
    if (!m) throw new Error(`cannot read the KMS alias ARN ${alias}`);
    out.push(
      stmt(`${sid}ByAlias${i > 0 ? i : ''}`, actions, [`${m[1]}:key/*`], {
        StringEquals: via,
        'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [m[2]] },
      }),
    );
  });
  return out;
}

/** SSE-KMS: reads need Decrypt; writes need GenerateDataKey, and Decrypt for multipart uploads. */
function storageKey(ctx: PermissionContext, statements: iam.PolicyStatement[]): iam.PolicyStatement[] {
  if (ctx.storageKeyArns.length === 0) return [];
  const actions = statements.flatMap((s) => s.actions);
  const needed = [
    ...(actions.includes('s3:PutObject') ? ['kms:GenerateDataKey'] : []),
    ...(actions.includes('s3:PutObject') || actions.includes('s3:GetObject') ? ['kms:Decrypt'] : []),
  ];
  if (needed.length === 0) return [];
  // Only through S3: these credentials cannot use the key directly.
  return kmsThroughS3('StorageKey', needed, ctx.storageKeyArns, ctx.region);
}

function exportDescribes(ctx: PermissionContext): iam.PolicyStatement[] {
  return [
    stmt(
      'DescribeExportedAssets',
      [
        'quicksight:DescribeDashboard',
        'quicksight:DescribeAnalysis',
        'quicksight:DescribeDataSet',
        'quicksight:DescribeDataSource',
        'quicksight:DescribeTheme',
        'quicksight:DescribeFolder',
        'quicksight:DescribeVPCConnection',
        'quicksight:DescribeDashboardPermissions',
        'quicksight:DescribeAnalysisPermissions',
        'quicksight:DescribeDataSetPermissions',
        'quicksight:DescribeDataSourcePermissions',
        'quicksight:DescribeThemePermissions',
        'quicksight:DescribeFolderPermissions',
        'quicksight:ListFolderMembers',
        'quicksight:ListRefreshSchedules',
        'quicksight:DescribeRefreshSchedule',
        'quicksight:ListTagsForResource',
      ],
      QS_ASSET_TYPES.map((t) => qsArn(ctx, ctx.region, t)),
    ),
  ];
}

// ---- per step --------------------------------------------------------------------------

/** The statements of one step binary, e.g. `qsbackup-discover`. */
export function stepStatements(binary: string, ctx: PermissionContext): iam.PolicyStatement[] {
  const statements = baseStatements(binary, ctx);
  return [...statements, ...storageKey(ctx, statements)];
}

function baseStatements(binary: string, ctx: PermissionContext): iam.PolicyStatement[] {
  const describeExportJob = stmt('DescribeExportJob', ['quicksight:DescribeAssetBundleExportJob'], [qsArn(ctx, ctx.region, 'asset-bundle-export-job')]);
  switch (binary) {
    case 'qsbackup-begin':
      return [
        // Storage preflight (HeadBucket), then run.json.
        ...s3List(ctx),
        ...s3Write(ctx),
        // Take the run lock: one conditional PutItem (a new lease, or an expired one taken over).
        stmt('TakeRunLock', ['dynamodb:PutItem'], [ctx.lockTableArn]),
        stmt('CatalogRecord', ['dynamodb:UpdateItem'], [ctx.catalogTableArn]),
      ];
    case 'qsbackup-identities':
      return [
        stmt(
          'AccountLevelIdentityReads',
          ['quicksight:ListNamespaces', 'quicksight:DescribeAccountSettings', 'quicksight:DescribeAccountCustomization'],
          ['*'],
        ),
        stmt(
          'ReadIdentities',
          ['quicksight:ListUsers', 'quicksight:ListGroups', 'quicksight:ListGroupMemberships'],
          [qsArn(ctx, ctx.identityRegion, 'user'), qsArn(ctx, ctx.identityRegion, 'group')],
        ),
        stmt('IdentitySnapshot', ['dynamodb:BatchWriteItem'], [ctx.identityTableArn]),
        ...s3Write(ctx),
      ];
    case 'qsbackup-discover':
      return [
        stmt(
          'ListAssets',
          [
            'quicksight:ListDashboards',
            'quicksight:ListAnalyses',
            'quicksight:ListDataSets',
            'quicksight:ListDataSources',
            'quicksight:ListThemes',
            'quicksight:ListFolders',
            'quicksight:ListVPCConnections',
          ],
          ['*'],
        ),
        // Dependencies (Describe*), tag and folder rules of the selection.
        stmt(
          'DescribeAssets',
          [
            'quicksight:DescribeDashboard',
            'quicksight:DescribeAnalysis',
            'quicksight:DescribeDataSet',
            'quicksight:DescribeFolder',
            'quicksight:ListFolderMembers',
            'quicksight:ListTagsForResource',
          ],
          QS_ASSET_TYPES.map((t) => qsArn(ctx, ctx.region, t)),
        ),
        // plan.json and batches.json.
        ...s3Write(ctx),
      ];
    case 'qsbackup-start-export':
      return [
        stmt('StartExportJob', ['quicksight:StartAssetBundleExportJob'], [qsArn(ctx, ctx.region, 'asset-bundle-export-job')]),
        // QuickSight checks that the caller may describe every asset (and its permissions/tags) it exports.
        ...exportDescribes(ctx),
        ...s3Read(ctx), // plan.json
      ];
    case 'qsbackup-check-export':
      return [describeExportJob, ...s3Read(ctx)];
    case 'qsbackup-store-bundle':
      // Describe renews the 5-minute download URL; the bundle and its outcome are written once.
      return [describeExportJob, ...s3Read(ctx), ...s3Write(ctx)];
    case 'qsbackup-split-batch':
      return [describeExportJob, ...s3Read(ctx), ...s3Write(ctx)];
    case 'qsbackup-finalize':
      return [
        stmt('CatalogRecord', ['dynamodb:UpdateItem'], [ctx.catalogTableArn]),
        stmt('ReleaseRunLock', ['dynamodb:DeleteItem'], [ctx.lockTableArn]),
        // Run metrics (QsBackup/RunsFailed, RunsPartiallyFailed …) are emitted as CloudWatch
        // Embedded Metric Format log lines: no cloudwatch:PutMetricData permission needed.
        // Outcomes are listed and read; reports and then the manifest are written.
        ...s3List(ctx),
        ...s3Read(ctx),
        ...s3Write(ctx),
      ];
    case 'qsbackup-prune':
      return [
        ...s3List(ctx),
        ...s3Read(ctx),
        ...(ctx.allowDeletes ? [stmt('DeleteExpiredRuns', ['s3:DeleteObject'], [ctx.scopeObjectsArn])] : []),
      ];
    default:
      throw new Error(`no permissions defined for step ${binary}`);
  }
}

/** Every step binary, in workflow order. */
export const STEP_BINARIES = [
  'qsbackup-begin',
  'qsbackup-identities',
  'qsbackup-discover',
  'qsbackup-start-export',
  'qsbackup-check-export',
  'qsbackup-store-bundle',
  'qsbackup-split-batch',
  'qsbackup-finalize',
  'qsbackup-prune',
] as const;
export type StepBinary = (typeof STEP_BINARIES)[number];
