// Turns the state machine of a synthesized template into a plain ASL definition: CDK writes
// DefinitionString as Fn::Join over Refs and GetAtts, which asl-validator and
// aws-local-stepfunctions cannot read. Placeholders are syntactically valid ARNs/names.

type Template = { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };

export const PLACEHOLDER = { partition: 'aws', region: 'us-east-1', account: '111122223333' };

function resolve(template: Template, node: unknown): string {
  if (typeof node === 'string') return node;
  const o = node as Record<string, unknown>;
  if ('Fn::Join' in o) {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => resolve(template, p)).join(sep);
  }
  if ('Ref' in o) {
    const ref = o.Ref as string;
    if (ref === 'AWS::Partition') return PLACEHOLDER.partition;
    if (ref === 'AWS::Region') return PLACEHOLDER.region;
    if (ref === 'AWS::AccountId') return PLACEHOLDER.account;
    if (ref === 'AWS::URLSuffix') return 'amazonaws.com';
    const type = template.Resources[ref]?.Type;
    if (type === 'AWS::S3::Bucket') return `bucket-${ref.toLowerCase()}`.slice(0, 63);
    if (type === 'AWS::Lambda::Function') return ref;
    return `ref-${ref}`;
  }
  if ('Fn::GetAtt' in o) {
    const [id, attr] = o['Fn::GetAtt'] as [string, string];
    const type = template.Resources[id]?.Type;
    const { partition, region, account } = PLACEHOLDER;
    if (type === 'AWS::Lambda::Function' && attr === 'Arn') return `arn:${partition}:lambda:${region}:${account}:function:${id}`;
    if (type === 'AWS::S3::Bucket' && attr === 'Arn') return `arn:${partition}:s3:::bucket-${id.toLowerCase()}`;
    return `arn:${partition}:placeholder:${region}:${account}:${id}/${attr}`;
  }
  throw new Error(`cannot resolve ${JSON.stringify(node)} in a state machine definition`);
}

/** The ASL definition (object) of the only state machine in `template`. */
export function definitionOf(template: Template): Record<string, unknown> {
  const machines = Object.values(template.Resources).filter((r) => r.Type === 'AWS::StepFunctions::StateMachine');
  if (machines.length !== 1) throw new Error(`expected one state machine, found ${machines.length}`);
  return JSON.parse(resolve(template, machines[0].Properties!.DefinitionString));
}

/** Lambda logical id → the binary it runs (from its description "qsbackup <policy>: <binary>"). */
export function functionBinaries(template: Template): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [id, r] of Object.entries(template.Resources)) {
    if (r.Type !== 'AWS::Lambda::Function') continue;
    const m = /: (qsbackup-[a-z-]+)$/.exec(String(r.Properties?.Description ?? ''));
    if (m) out[id] = m[1];
  }
  return out;
}
