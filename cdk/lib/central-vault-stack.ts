// A backup vault in a separate backup account: the source accounts' qsbackup roles may write
// (and read back) backups but never delete them, so a compromised workload account cannot
// destroy its own backups. Retention in the vault is enforced by lifecycle (and Object Lock).

import { CfnOutput, Duration, PhysicalName, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import { DEFAULTS } from './defaults';
import { acknowledge } from './nag';
import type { ObjectLock } from './policy';

/** Name prefix of the roles that qsbackup stacks create (CloudFormation names them after the stack). */
export const WRITER_ROLE_PATTERN = 'QsBackup-*';

export interface CentralVaultStackProps extends StackProps {
  /** Accounts whose qsbackup stacks write to this vault. */
  readonly sourceAccounts: string[];
  /**
   * Names (IAM `ArnLike` pattern) of the roles in the source accounts that may write.
   * @default 'QsBackup-*' — the roles of the stacks this app creates
   */
  readonly writerRolePattern?: string;
  /**
   * Object Lock default retention for every object.
   * @default - no Object Lock (the bucket policy alone denies deletes by source accounts)
   */
  readonly objectLock?: ObjectLock;
  /**
   * Move backups to S3 Glacier Flexible Retrieval after this many days.
   * @default - never
   */
  readonly coldStorageAfterDays?: number;
  /**
   * Delete backups this many days after they were written (the vault's own retention: the
   * source accounts cannot delete here).
   * @default - never
   */
  readonly deleteAfterDays?: number;
  /**
   * Overwritten object versions stay this long.
   * @default Duration.days(90)
   */
  readonly noncurrentVersionExpiration?: Duration;
  /**
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

export class CentralVaultStack extends Stack {
  readonly bucket: s3.Bucket;
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: CentralVaultStackProps) {
    super(scope, id, props);
    this.node.setContext(cxapi.S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true); // see QuickSightBackup
    if (props.sourceAccounts.length === 0) throw new Error('CentralVaultStack needs at least one source account');
    const removalPolicy = props.removalPolicy ?? DEFAULTS.removalPolicy;
    const pattern = props.writerRolePattern ?? WRITER_ROLE_PATTERN;
    const writerArns = props.sourceAccounts.map((a) => `arn:${this.partition}:iam::${a}:role/${pattern}`);
    const writers = props.sourceAccounts.map((a) => new iam.AccountPrincipal(a));

    this.key = new kms.Key(this, 'Key', {
      description: 'qsbackup central vault',
      enableKeyRotation: true,
      removalPolicy,
    });
    // Writers may use the key only through S3; key administration stays with this account.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'SourceAccountsUseThroughS3',
        principals: writers,
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'kms:ViaService': `s3.${this.region}.amazonaws.com` },
          ArnLike: { 'aws:PrincipalArn': writerArns },
        },
      }),
    );

    const accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'ExpireAccessLogs', expiration: DEFAULTS.accessLogExpiration, noncurrentVersionExpiration: Duration.days(30) }],
      removalPolicy,
    });
    acknowledge(accessLogs, 'AwsSolutions-S1', 'This is the server access log bucket of the vault; logging it would need yet another bucket.');

    const lock = props.objectLock;
    this.bucket = new s3.Bucket(this, 'Vault', {
      // Generated at synth time so that stacks in the source accounts can name it.
      bucketName: PhysicalName.GENERATE_IF_NEEDED,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      // Objects written by the source accounts belong to the vault account.
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      objectLockEnabled: lock !== undefined ? true : undefined,
      objectLockDefaultRetention:
        lock === undefined
          ? undefined
          : lock.mode === 'COMPLIANCE'
            ? s3.ObjectLockRetention.compliance(Duration.days(lock.days))
            : s3.ObjectLockRetention.governance(Duration.days(lock.days)),
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'vault/',
      lifecycleRules: [
        {
          id: 'VaultRetention',
          abortIncompleteMultipartUploadAfter: DEFAULTS.abortIncompleteMultipartUpload,
          noncurrentVersionExpiration: props.noncurrentVersionExpiration ?? Duration.days(90),
          transitions:
            props.coldStorageAfterDays !== undefined
              ? [{ storageClass: s3.StorageClass.GLACIER, transitionAfter: Duration.days(props.coldStorageAfterDays) }]
              : undefined,
          expiration: props.deleteAfterDays !== undefined ? Duration.days(props.deleteAfterDays) : undefined,
          expiredObjectDeleteMarker: props.deleteAfterDays === undefined ? true : undefined,
        },
      ],
      removalPolicy,
    });

    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'SourceAccountsWrite',
        principals: writers,
        actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:GetObject'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: { ArnLike: { 'aws:PrincipalArn': writerArns } },
      }),
    );
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'SourceAccountsList',
        principals: writers,
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
        conditions: { ArnLike: { 'aws:PrincipalArn': writerArns } },
      }),
    );
    // Explicit deny: even a policy mistake in this account cannot let a source account delete.
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'SourceAccountsNeverDelete',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: [
          's3:DeleteObject',
          's3:DeleteObjectVersion',
          's3:BypassGovernanceRetention',
          's3:PutObjectLegalHold',
          's3:PutLifecycleConfiguration',
          's3:PutBucketVersioning',
          's3:PutBucketObjectLockConfiguration',
        ],
        resources: [this.bucket.bucketArn, this.bucket.arnForObjects('*')],
        conditions: { StringEquals: { 'aws:PrincipalAccount': props.sourceAccounts } },
      }),
    );

    new CfnOutput(this, 'VaultBucketName', { value: this.bucket.bucketName, description: 'Bucket that receives the backups' });
    new CfnOutput(this, 'VaultKeyArn', { value: this.key.keyArn, description: 'KMS key of the vault bucket' });
  }
}
