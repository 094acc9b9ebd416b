// cdk-nag acknowledgements. Every one carries a reason (CDK accepts an empty one silently, so
// `acknowledge` refuses it). IAM5 findings are derived from the policy documents the same way
// cdk-nag derives them, and each gets the reason its wildcard cannot be narrower.

import { Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import { IConstruct } from 'constructs';

/** Acknowledges one cdk-nag finding on `scope` (and everything below it). */
export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  if (reason.trim().length === 0) {
    throw new Error(`cdk-nag acknowledgement ${id} on ${scope.node.path} has no reason`);
  }
  Validations.of(scope).acknowledge({ id, reason });
}

interface Statement {
  Effect?: string;
  Action?: string | string[];
  Resource?: unknown;
}

/** The AwsSolutions-IAM5 finding ids of a resolved policy document, as cdk-nag computes them. */
export function wildcardFindings(document: { Statement?: Statement[] }): string[] {
  const out = new Set<string>();
  for (const s of document.Statement ?? []) {
    if (s.Effect !== 'Allow') continue;
    for (const a of [s.Action ?? []].flat()) if (a.includes('*')) out.add(`Action::${a}`);
    for (const r of [s.Resource ?? []].flat().map(flattenCfnReference)) if (r.includes('*')) out.add(`Resource::${r}`);
  }
  return [...out];
}

/**
 * Acknowledges the IAM5 findings of a policy; `reasonFor` must explain each finding or return
 * undefined, which leaves it unacknowledged so that the nag check fails and someone looks.
 */
export function acknowledgeWildcards(policy: iam.Policy, reasonFor: (finding: string) => string | undefined): void {
  const doc = Stack.of(policy).resolve(policy.document) as { Statement?: Statement[] };
  for (const finding of wildcardFindings(doc)) {
    const reason = reasonFor(finding);
    if (reason !== undefined) acknowledge(policy, `AwsSolutions-IAM5[${finding}]`, reason);
  }
}
