// Loads a qsbackup policy (YAML or JSON), validates it against schema/policy.schema.json and
// resolves it per target. It mirrors runtime/policy (`Policy::for_target`, the `Default` impls):
// when the Rust model changes, change this file in the same commit.
// No CDK constructs here: this module is plain data so it can be unit-tested on its own.

import * as fs from 'fs';
import * as path from 'path';
import Ajv2020, { ErrorObject } from 'ajv/dist/2020';
import * as YAML from 'yaml';

/** The raw policy document as written (after parsing; defaults not filled in). */
export type PolicyDocument = Record<string, unknown>;

export type Mode = 'full' | 'assets-only' | 'users-only';
export type NotifyOn = 'failed' | 'partiallyFailed' | 'completed';
export type ObjectLockMode = 'GOVERNANCE' | 'COMPLIANCE';

export interface Schedule {
  readonly expression: string;
  readonly timeZone: string;
  readonly startWindowMinutes?: number;
  readonly enabled: boolean;
}

export interface Retention {
  readonly keepLast: number;
  readonly hourly: number;
  readonly daily: number;
  readonly weekly: number;
  readonly monthly: number;
  readonly yearly: number;
  readonly coldStorageAfterDays?: number;
  readonly deleteAfterDays?: number;
  readonly minimumDays?: number;
}

export interface ObjectLock {
  readonly mode: ObjectLockMode;
  readonly days: number;
}

export interface S3Storage {
  readonly bucket?: string;
  readonly kmsKeyArn?: string;
  readonly objectLock?: ObjectLock;
  readonly storageClass?: string;
}

export interface Storage {
  readonly s3?: S3Storage;
  readonly local?: { readonly path: string };
  readonly prefix: string;
}

export interface Notifications {
  readonly snsTopicArn?: string;
  readonly emails: string[];
  readonly on: NotifyOn[];
}

export interface Target {
  readonly account: string;
  readonly region?: string;
  readonly name?: string;
  readonly overrides?: {
    readonly storage?: PolicyDocument;
    readonly schedule?: PolicyDocument;
    readonly retention?: PolicyDocument;
    readonly notifications?: PolicyDocument;
  };
}

/**
 * The policy of one target with every default the CDK app relies on filled in. Sections the
 * stack does not read (selection, export formats, …) stay in `document` for the Lambdas.
 */
export interface TargetPolicy {
  /** Policy name (shared by every target). */
  readonly name: string;
  readonly account: string;
  readonly region: string;
  /** Target label, when the policy gives one. */
  readonly label?: string;
  readonly mode: Mode;
  readonly identityRegion: string;
  readonly identitiesEnabled: boolean;
  readonly concurrentJobs: number;
  readonly schedule: Schedule;
  readonly retention: Retention;
  readonly storage: Storage;
  readonly notifications: Notifications;
  /**
   * The resolved policy document as the Rust side reads it (`Policy::for_target`): overrides
   * applied, `source.region` set to the target's Region, `targets` reduced to this target.
   * Defaults are not filled in: the Rust model applies them itself.
   */
  readonly document: PolicyDocument;
}

/** A policy that failed to load or validate; `problems` name the JSON path of each error. */
export class PolicyError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`Invalid policy ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PolicyError';
  }
}

// Defaults, exactly as in runtime/policy/src/model.rs (`impl Default for …`).
export const POLICY_DEFAULTS = {
  sourceRegion: 'us-east-1',
  mode: 'full' as Mode,
  concurrentJobs: 5,
  schedule: { expression: 'cron(0 2 * * ? *)', timeZone: 'UTC', enabled: true } as Schedule,
  retention: { keepLast: 7, hourly: 0, daily: 7, weekly: 4, monthly: 12, yearly: 0 } as Retention,
  prefix: 'qsbackup',
  notifyOn: ['failed', 'partiallyFailed'] as NotifyOn[],
};

/** Where `schema/` and `target/` live: the repository root, found from this file upwards. */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'cdk', 'package.json')) && fs.existsSync(path.join(dir, 'Cargo.toml'))) {
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the qsbackup repository root above ${__dirname}`);
    dir = parent;
  }
}

export function defaultSchemaPath(): string {
  return path.join(repoRoot(), 'schema', 'policy.schema.json');
}

/** Parses a policy file: `.json` as JSON, anything else as YAML (a superset of JSON). */
export function parsePolicyFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new PolicyError(file, [`cannot read the file: ${(e as Error).message}`]);
  }
  try {
    if (file.toLowerCase().endsWith('.json')) return JSON.parse(text);
    // YAML 1.2 core schema: `012345678901` stays a number (the schema then asks for a string),
    // and "yes"/"no" stay strings, like serde_norway on the Rust side.
    const doc = YAML.parseDocument(text, { version: '1.2', uniqueKeys: true });
    if (doc.errors.length > 0) {
      throw new Error(doc.errors.map((e) => e.message).join('; '));
    }
    return doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    if (e instanceof PolicyError) throw e;
    throw new PolicyError(file, [`$: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message}`]);
  }
}

/** `/targets/0/account` → `$.targets[0].account` */
export function jsonPath(pointer: string, extra?: string): string {
  const parts = pointer === '' ? [] : pointer.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (extra !== undefined) parts.push(extra);
  return parts.reduce(
    (acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(p) ? `${acc}.${p}` : `${acc}[${JSON.stringify(p)}]`),
    '$',
  );
}

/** Levenshtein distance, for "did you mean" hints on unknown keys. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

function describeError(e: ErrorObject): string {
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys((e.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties ?? {});
      const best = known.map((k) => [k, editDistance(k.toLowerCase(), key.toLowerCase())] as const).sort((a, b) => a[1] - b[1])[0];
      const hint = best && best[1] <= Math.max(2, Math.floor(key.length / 3)) ? ` (did you mean ${best[0]}?)` : '';
      return `${jsonPath(e.instancePath, key)}: unknown key${hint}`;
    }
    case 'required':
      return `${jsonPath(e.instancePath, (e.params as { missingProperty: string }).missingProperty)}: required`;
    case 'enum':
      return `${jsonPath(e.instancePath)}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `${jsonPath(e.instancePath)}: must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
    default:
      return `${jsonPath(e.instancePath)}: ${e.message ?? e.keyword}`;
  }
}

type Validator = (doc: unknown) => string[];
const validators = new Map<string, Validator>();

/** Compiles (once per file) a validator for the JSON Schema at `schemaFile`. */
export function schemaValidator(schemaFile: string = defaultSchemaPath()): Validator {
  const cached = validators.get(schemaFile);
  if (cached) return cached;
  if (!fs.existsSync(schemaFile)) {
    throw new Error(`policy schema not found at ${schemaFile} (generated from runtime/policy; see schema/)`);
  }
  const schema = JSON.parse(fs.readFileSync(schemaFile, 'utf8'));
  // strict: false because schemars writes annotations ajv does not know; formats that schemars
  // emits for Rust integer types are checked as integer ranges.
  const ajv = new Ajv2020({ allErrors: true, strict: false, useDefaults: false, verbose: true });
  const ints: Record<string, [number, number]> = {
    uint8: [0, 255],
    uint16: [0, 65535],
    uint32: [0, 4294967295],
    uint64: [0, Number.MAX_SAFE_INTEGER],
    uint: [0, Number.MAX_SAFE_INTEGER],
    int8: [-128, 127],
    int16: [-32768, 32767],
    int32: [-2147483648, 2147483647],
    int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
    int: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  };
  for (const [name, [min, max]] of Object.entries(ints)) {
    ajv.addFormat(name, { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= min && n <= max });
  }
  for (const name of ['float', 'double']) ajv.addFormat(name, { type: 'number', validate: () => true });
  const validate = ajv.compile(schema);
  const fn: Validator = (doc) => {
    if (validate(doc)) return [];
    const errors = validate.errors ?? [];
    const seen = new Set<string>();
    const out: string[] = [];
    const add = (line: string) => {
      if (!seen.has(line)) {
        seen.add(line);
        out.push(line);
      }
    };
    const branchErrors = (e: ErrorObject) => errors.filter((x) => x !== e && x.schemaPath.startsWith(`${e.schemaPath}/`));
    const isBranch = (e: ErrorObject) => errors.some((x) => (x.keyword === 'anyOf' || x.keyword === 'oneOf') && e.schemaPath.startsWith(`${x.schemaPath}/`));
    for (const e of errors) {
      if (e.keyword === 'anyOf' || e.keyword === 'oneOf') {
        // Enums and untagged unions (e.g. `namespaces: all | [..]`): an error inside the value
        // (the branch whose shape matched) says most; otherwise list what is accepted.
        const sub = branchErrors(e);
        const deeper = sub.filter((x) => x.instancePath.length > e.instancePath.length);
        if (deeper.length > 0) {
          deeper.forEach((x) => add(describeError(x)));
          continue;
        }
        const accepted = [
          ...sub.filter((x) => x.keyword === 'const').map((x) => JSON.stringify((x.params as { allowedValue: unknown }).allowedValue)),
          ...sub.filter((x) => x.keyword === 'enum').flatMap((x) => (x.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v))),
          ...sub.filter((x) => x.keyword === 'type').map((x) => `a value of type ${(x.params as { type: string }).type}`),
        ];
        add(accepted.length > 0 ? `${jsonPath(e.instancePath)}: must be one of ${[...new Set(accepted)].join(', ')}` : describeError(e));
        continue;
      }
      if (isBranch(e)) continue; // reported through its anyOf/oneOf above
      // `uint32` etc. restate a range error on the same value.
      if (e.keyword === 'format' && errors.some((x) => x !== e && x.instancePath === e.instancePath && x.keyword !== 'format')) continue;
      add(describeError(e));
    }
    return out;
  };
  validators.set(schemaFile, fn);
  return fn;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks the schema cannot express, for the parts the stack depends on. The Rust loader has more
 * (selection rules etc.); this mirrors only what would make a deployment wrong.
 */
function semanticProblems(doc: PolicyDocument): string[] {
  const problems: string[] = [];
  const seen = new Map<string, number>();
  const targets = (doc.targets as Target[] | undefined) ?? [];
  const sourceRegion = ((doc.source as PolicyDocument | undefined)?.region as string | undefined) ?? POLICY_DEFAULTS.sourceRegion;
  targets.forEach((t, i) => {
    const key = `${t.account}/${t.region ?? sourceRegion}`;
    if (seen.has(key)) problems.push(`$.targets[${i}]: duplicate of $.targets[${seen.get(key)}] (account ${t.account}, Region ${t.region ?? sourceRegion})`);
    else seen.set(key, i);
  });
  const storages: Array<[string, unknown]> = [['$.storage', doc.storage]];
  targets.forEach((t, i) => storages.push([`$.targets[${i}].overrides.storage`, t.overrides?.storage]));
  for (const [p, s] of storages) {
    if (isObject(s) && s.s3 !== undefined && s.local !== undefined) problems.push(`${p}: give either s3 or local, not both`);
  }
  return problems;
}

/** Loads, validates and returns the raw policy document, or throws a {@link PolicyError}. */
export function loadPolicy(file: string, schemaFile?: string): PolicyDocument {
  const doc = parsePolicyFile(file);
  const problems = schemaValidator(schemaFile)(doc);
  if (problems.length === 0) problems.push(...semanticProblems(doc as PolicyDocument));
  if (problems.length > 0) throw new PolicyError(file, problems);
  return doc as PolicyDocument;
}

/** `Policy::for_target` on the raw document, plus the defaults the CDK app needs. */
export function resolveTarget(doc: PolicyDocument, target: Target): TargetPolicy {
  const source = (doc.source as PolicyDocument | undefined) ?? {};
  const region = target.region ?? (source.region as string | undefined) ?? POLICY_DEFAULTS.sourceRegion;
  const resolved: PolicyDocument = { ...doc };
  delete resolved.$schema; // ignored by qsbackup; saves environment-variable bytes
  for (const section of ['storage', 'schedule', 'retention', 'notifications'] as const) {
    const o = target.overrides?.[section];
    if (o !== undefined) resolved[section] = o; // a given section replaces the whole section
  }
  resolved.source = { ...source, region };
  resolved.targets = [{ account: target.account, region, ...(target.name !== undefined ? { name: target.name } : {}) }];

  const schedule = (resolved.schedule as Partial<Schedule> | undefined) ?? {};
  const retention = (resolved.retention as Partial<Retention> | undefined) ?? {};
  const storage = (resolved.storage as Partial<Storage> | undefined) ?? {};
  const notifications = (resolved.notifications as Partial<Notifications> | undefined) ?? {};
  const exportSettings = (resolved.export as PolicyDocument | undefined) ?? {};
  const identities = (resolved.identities as PolicyDocument | undefined) ?? {};
  return {
    name: doc.name as string,
    account: target.account,
    region,
    label: target.name,
    mode: (resolved.mode as Mode | undefined) ?? POLICY_DEFAULTS.mode,
    identityRegion: (source.identityRegion as string | undefined) ?? region,
    identitiesEnabled: (identities.enabled as boolean | undefined) ?? true,
    concurrentJobs: (exportSettings.concurrentJobs as number | undefined) ?? POLICY_DEFAULTS.concurrentJobs,
    schedule: { ...POLICY_DEFAULTS.schedule, ...schedule },
    retention: { ...POLICY_DEFAULTS.retention, ...retention },
    storage: {
      // An absent storage section means a stack-created S3 bucket (Storage::default()).
      ...(storage.local === undefined ? { s3: storage.s3 ?? {} } : { local: storage.local }),
      prefix: storage.prefix ?? POLICY_DEFAULTS.prefix,
    },
    notifications: {
      snsTopicArn: notifications.snsTopicArn,
      emails: notifications.emails ?? [],
      on: notifications.on ?? POLICY_DEFAULTS.notifyOn,
    },
    document: resolved,
  };
}

/** Every target of a validated policy, resolved. */
export function resolveTargets(doc: PolicyDocument): TargetPolicy[] {
  return ((doc.targets as Target[] | undefined) ?? []).map((t) => resolveTarget(doc, t));
}
