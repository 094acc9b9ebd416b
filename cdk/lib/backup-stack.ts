// One deployable stack per policy target (account + Region), wrapping the QuickSightBackup
// construct. `cdk deploy --all` rolls a policy out to every target.

import { CfnOutput, Stack, StackProps, Tags } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { TargetPolicy } from './policy';
import { QuickSightBackup, QuickSightBackupProps } from './quicksight-backup';

export interface QsBackupStackProps extends StackProps, Omit<QuickSightBackupProps, 'policy'> {
  /** The target's resolved policy. */
  readonly policy: TargetPolicy;
}

/** `QsBackup-<policy>-<account>-<region>`: CloudFormation stack names allow letters, digits and `-`. */
export function stackIdFor(policy: Pick<TargetPolicy, 'name' | 'account' | 'region'>): string {
  return `QsBackup-${policy.name.replace(/[^A-Za-z0-9-]/g, '-')}-${policy.account}-${policy.region}`;
}

export class QsBackupStack extends Stack {
  readonly backup: QuickSightBackup;

  constructor(scope: Construct, id: string, props: QsBackupStackProps) {
    const { policy } = props;
    super(scope, id, {
      description: `qsbackup: scheduled QuickSight backup, policy ${policy.name}${policy.label ? ` (${policy.label})` : ''}`,
      ...props,
      env: props.env ?? { account: policy.account, region: policy.region },
    });
    this.backup = new QuickSightBackup(this, 'QuickSightBackup', props);
    Tags.of(this).add('qsbackup:policy', policy.name);
    if (policy.label) Tags.of(this).add('qsbackup:target', policy.label);

    new CfnOutput(this, 'StateMachineArn', {
      value: this.backup.stateMachine.stateMachineArn,
      description: 'Start an on-demand run: aws stepfunctions start-execution --state-machine-arn <this> --input {}',
    });
    new CfnOutput(this, 'BucketName', { value: this.backup.bucket.bucketName, description: 'Where the backups are written' });
  }
}
