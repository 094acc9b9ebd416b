// Every default of the QuickSightBackup construct in one place, so a reviewer can check the
// security posture without reading the resource code. Policy defaults live in policy.ts.

import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';

export const DEFAULTS = {
  /** Backups and their catalog outlive the stack unless the caller says otherwise. */
  removalPolicy: RemovalPolicy.RETAIN,
  /** Lambda memory: the steps stream bundles and hold a plan in memory, nothing more. */
  memorySize: 512,
  /** How long Lambda and Step Functions logs are kept. */
  logRetention: logs.RetentionDays.THREE_MONTHS,
  /** Server access logs are evidence for an audit: keep them a year. */
  accessLogExpiration: Duration.days(365),
  /** Deleted or overwritten backup objects stay recoverable this long. */
  noncurrentVersionExpiration: Duration.days(30),
  /** Incomplete multipart uploads of large bundles are cleaned up after this. */
  abortIncompleteMultipartUpload: Duration.days(7),
  /**
   * Whether S3 lifecycle also expires current objects after `retention.deleteAfterDays`.
   * Off: prune applies deleteAfterDays itself and never deletes the newest successful run or a
   * run younger than `minimumDays`; a blind lifecycle rule would.
   */
  lifecycleExpiration: false,
  /** A run (incl. export polling) must finish within this; the next daily run may start after. */
  stateMachineTimeout: Duration.hours(23),
  /** The scheduler retries starting an execution this often before giving it to its DLQ. */
  schedulerRetryAttempts: 5,
  schedulerMaxEventAge: Duration.hours(6),
  /** Ceiling of QuickSight's export-job quota per account. */
  maxConcurrentJobs: 5,
  /** Lambda environment variables are capped at 4 KiB in total; keep room for the others. */
  maxPolicyJsonBytes: 3500,
  /** CloudWatch namespace and dimension of the metrics finalize emits. */
  metricNamespace: 'QsBackup',
  metricDimension: 'Policy',
} as const;

/** Per-step Lambda settings. Timeouts: polling steps are quick, the streaming ones are not. */
export const STEP_SETTINGS: Record<string, { timeout: Duration; memorySize?: number }> = {
  'qsbackup-begin': { timeout: Duration.minutes(1) },
  'qsbackup-identities': { timeout: Duration.minutes(15) },
  'qsbackup-discover': { timeout: Duration.minutes(15) },
  'qsbackup-start-export': { timeout: Duration.minutes(2) },
  'qsbackup-check-export': { timeout: Duration.minutes(1) },
  'qsbackup-store-bundle': { timeout: Duration.minutes(15) },
  'qsbackup-split-batch': { timeout: Duration.minutes(2) },
  'qsbackup-finalize': { timeout: Duration.minutes(10) },
  'qsbackup-prune': { timeout: Duration.minutes(15) },
};
