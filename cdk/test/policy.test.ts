import * as path from 'path';
import { jsonPath, loadPolicy, PolicyError, POLICY_DEFAULTS, resolveTarget, resolveTargets, Target } from '../lib/policy';
import { exampleFiles, fixture, tempPolicy } from './support/synth';

describe('policy loading', () => {
  test.each(exampleFiles().map((f) => [path.basename(f), f]))('example %s is valid', (_name, file) => {
    expect(() => loadPolicy(file)).not.toThrow();
  });

  test('an invalid policy names the JSON path of every error', () => {
    let error: PolicyError | undefined;
    try {
      loadPolicy(fixture('invalid.yaml'));
    } catch (e) {
      error = e as PolicyError;
    }
    expect(error).toBeInstanceOf(PolicyError);
    expect(error!.problems).toEqual([
      '$.scheduel: unknown key (did you mean schedule?)',
      '$.targets[0].account: must be string',
      '$.export.concurrentJobs: must be <= 5',
      '$.retention.keepLast: must be >= 0',
    ]);
    expect(error!.message).toContain('invalid.yaml');
  });

  test('an enum error lists the accepted values', () => {
    const file = tempPolicy('version: 1\nname: x\ntargets: [{account: "111111111111"}]\nmode: everything\n');
    expect(() => loadPolicy(file)).toThrow(/\$\.mode: must be one of "full", "assets-only", "users-only"/);
  });

  test('a YAML syntax error is a policy error, not a crash', () => {
    const file = tempPolicy('version: 1\nname: [unclosed\n');
    expect(() => loadPolicy(file)).toThrow(PolicyError);
  });

  test('JSON policies are read as JSON', () => {
    const file = tempPolicy(JSON.stringify({ version: 1, name: 'j', targets: [{ account: '111111111111' }] }), 'json');
    expect(loadPolicy(file).name).toBe('j');
  });

  test('duplicate targets (same account and Region) are refused', () => {
    const file = tempPolicy('version: 1\nname: d\nsource: {region: eu-west-1}\ntargets:\n  - account: "111111111111"\n  - account: "111111111111"\n    region: eu-west-1\n');
    expect(() => loadPolicy(file)).toThrow(/\$\.targets\[1\]: duplicate of \$\.targets\[0\]/);
  });

  test('jsonPath renders JSON pointers', () => {
    expect(jsonPath('')).toBe('$');
    expect(jsonPath('/targets/0/account')).toBe('$.targets[0].account');
    expect(jsonPath('/selection/include/1/tags', 'my tag')).toBe('$.selection.include[1].tags["my tag"]');
  });
});

describe('per-target resolution (mirrors Policy::for_target)', () => {
  test('defaults fill what the stack needs', () => {
    const [t] = resolveTargets(loadPolicy(path.join(__dirname, '..', '..', 'examples', 'minimal.yaml')));
    expect(t).toMatchObject({
      name: 'minimal',
      account: '111122223333',
      region: POLICY_DEFAULTS.sourceRegion,
      mode: 'full',
      identityRegion: 'us-east-1',
      identitiesEnabled: true,
      concurrentJobs: 5,
      schedule: { expression: 'cron(0 2 * * ? *)', timeZone: 'UTC', enabled: true },
      retention: { keepLast: 7, daily: 7, weekly: 4, monthly: 12, yearly: 0 },
      storage: { s3: {}, prefix: 'qsbackup' },
      notifications: { emails: [], on: ['failed', 'partiallyFailed'] },
    });
  });

  test('overrides replace whole sections; the document is reduced to the one target', () => {
    const doc = {
      $schema: 'x',
      version: 1,
      name: 'p',
      source: { region: 'us-east-1', identityRegion: 'us-west-2' },
      retention: { keepLast: 3, daily: 9 },
      schedule: { expression: 'rate(1 day)', timeZone: 'UTC' },
      targets: [] as Target[],
    };
    const target: Target = { account: '222222222222', region: 'eu-west-1', name: 'prod', overrides: { retention: { monthly: 2 } } };
    const t = resolveTarget(doc, target);
    expect(t.region).toBe('eu-west-1');
    expect(t.identityRegion).toBe('us-west-2');
    // Fields the override leaves out take the defaults, not the policy's values.
    expect(t.retention).toEqual({ ...POLICY_DEFAULTS.retention, monthly: 2 });
    expect(t.schedule.expression).toBe('rate(1 day)');
    expect(t.document).toEqual({
      version: 1,
      name: 'p',
      source: { region: 'eu-west-1', identityRegion: 'us-west-2' },
      retention: { monthly: 2 },
      schedule: { expression: 'rate(1 day)', timeZone: 'UTC' },
      targets: [{ account: '222222222222', region: 'eu-west-1', name: 'prod' }],
    });
  });

  test('storage.local stays visible so the app can refuse it', () => {
    const [, second] = resolveTargets(loadPolicy(fixture('local-override.yaml')));
    expect(second.storage).toEqual({ local: { path: './backups' }, prefix: 'qsbackup' });
  });
});
