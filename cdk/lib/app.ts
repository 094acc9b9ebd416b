// Builds the app from a policy file: one QsBackupStack per target and, when a vault account is
// given, one CentralVaultStack per target Region in that account. Used by bin/ and the tests.

import * as fs from 'fs';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as path from 'path';
import { App, AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { QsBackupStack, stackIdFor } from './backup-stack';
import { CentralVaultStack } from './central-vault-stack';
import type { CodeProvider } from './lambda-code';
import { loadPolicy, PolicyDocument, PolicyError, resolveTargets, TargetPolicy } from './policy';

export interface BuildOptions {
  /** Path of the policy file (YAML or JSON). */
  readonly policyFile: string;
  /**
   * @default schema/policy.schema.json of the repository
   */
  readonly schemaFile?: string;
  /**
   * @default - lambda-code.ts defaultCodeProvider()
   */
  readonly code?: CodeProvider;
  /**
   * Account of a central backup vault; backups of every target go there.
   * @default - no vault
   */
  readonly vaultAccount?: string;
  /**
   * Lambda instruction set: `arm64` or `x86_64` (as the handlers were built).
   * @default 'arm64'
   */
  readonly lambdaArchitecture?: string;
  /**
   * Run the cdk-nag AwsSolutions checks at synth.
   * @default true
   */
  readonly nag?: boolean;
}

function lambdaArchitecture(name: string | undefined): lambda.Architecture {
  switch (name ?? 'arm64') {
    case 'arm64':
      return lambda.Architecture.ARM_64;
    case 'x86_64':
      return lambda.Architecture.X86_64;
    default:
      throw new Error(`lambdaArchitecture must be arm64 or x86_64, got ${JSON.stringify(name)}`);
  }
}

export interface BuiltApp {
  readonly policy: PolicyDocument;
  readonly targets: TargetPolicy[];
  readonly stacks: QsBackupStack[];
  readonly vaults: CentralVaultStack[];
}

/** The context of cdk.json (feature flags etc.), so tests synthesize like `cdk synth` does. */
export function cdkJsonContext(): Record<string, unknown> {
  const file = path.join(__dirname, '..', 'cdk.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { context?: Record<string, unknown> }).context ?? {};
}

/** A new App with cdk.json's context, plus `context` on top. */
export function newApp(props: AppProps = {}): App {
  return new App({ ...props, context: { ...cdkJsonContext(), ...props.context } });
}

export function buildApp(app: App, opts: BuildOptions): BuiltApp {
  const policy = loadPolicy(opts.policyFile, opts.schemaFile);
  const targets = resolveTargets(policy);
  // A policy for a laptop (storage.local) has no place in an account: refuse it by path.
  const localProblems = targets.flatMap((t, i) => {
    if (t.storage.local === undefined) return [];
    const where = (policy.targets as Array<{ overrides?: { storage?: unknown } }>)[i].overrides?.storage !== undefined
      ? `$.targets[${i}].overrides.storage.local`
      : '$.storage.local';
    return [`${where}: local storage (target ${t.account}/${t.region}) is for runs from a laptop and cannot be deployed; use storage.s3, or leave storage out for a stack-created bucket`];
  });
  if (localProblems.length > 0) throw new PolicyError(opts.policyFile, localProblems);
  if (opts.vaultAccount !== undefined && !/^[0-9]{12}$/.test(opts.vaultAccount)) {
    throw new Error(`vaultAccount must be a 12-digit account id, got ${JSON.stringify(opts.vaultAccount)}`);
  }

  // One vault per Region, so every Lambda writes to a bucket in its own Region.
  const vaults = new Map<string, CentralVaultStack>();
  if (opts.vaultAccount !== undefined) {
    for (const region of [...new Set(targets.map((t) => t.region))]) {
      const inRegion = targets.filter((t) => t.region === region);
      const first = inRegion[0];
      const lock = first.storage.s3?.objectLock;
      vaults.set(
        region,
        new CentralVaultStack(app, `QsBackupVault-${first.name.replace(/[^A-Za-z0-9-]/g, '-')}-${region}`, {
          env: { account: opts.vaultAccount, region },
          description: `qsbackup: central backup vault of policy ${first.name} in ${region}`,
          sourceAccounts: [...new Set(inRegion.map((t) => t.account))],
          objectLock: lock,
          coldStorageAfterDays: first.retention.coldStorageAfterDays,
          deleteAfterDays: first.retention.deleteAfterDays,
        }),
      );
    }
  }

  const stacks = targets.map((target) => {
    const vault = vaults.get(target.region);
    const stack = new QsBackupStack(app, stackIdFor(target), {
      policy: target,
      code: opts.code,
      centralVault: vault && { bucketName: vault.bucket.bucketName, account: opts.vaultAccount!, region: target.region },
      lambdaArchitecture: lambdaArchitecture(opts.lambdaArchitecture),
    });
    if (vault) stack.addStackDependency(vault, 'backups are written to the central vault');
    return stack;
  });

  if (opts.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { policy, targets, stacks, vaults: [...vaults.values()] };
}
