// The synthesized workflow, executed offline with fake step handlers in JS (no Rust): checks the
// routing (Choice, Catch, Retry, Map) against the JSON contracts of runtime/lambda.

import { definitionOf } from '../support/definition';
import { fixture, synthPolicy } from '../support/synth';
import { Invocation, runWorkflow, StepError, StepHandlers } from './runner';

const RUN_ID = '20261204T020000Z-abc123';

let definition: any;
beforeAll(() => {
  // lifecycle.yaml: export.concurrentJobs = 3, identities on.
  const { templates } = synthPolicy(fixture('lifecycle.yaml'));
  definition = definitionOf(Object.values(templates)[0]);
});

interface World {
  /** Batches of the plan: asset count of each. */
  batches: number[];
  /** Asset indexes (per batch) whose export always fails. */
  broken?: Record<number, number[]>;
  inline?: boolean;
  /** Overrides per binary. */
  handlers?: StepHandlers;
}

/** A fake of the Rust steps that follows their contracts. */
function fakeSteps(world: World): StepHandlers & { inFlight: { max: number } } {
  const inFlight = { now: 0, max: 0 };
  const active = new Set<number>();
  const polls = new Map<string, number>();
  const work = world.batches.map((n, batch) => ({ runId: RUN_ID, batch, pending: [[0, n]] }));
  const steps: StepHandlers = {
    'qsbackup-begin': (p) => ({ runId: RUN_ID, mode: p.mode ?? 'full', startedAt: '2026-12-04T02:00:00Z' }),
    'qsbackup-identities': (p) => ({ runId: p.runId, namespaces: 1, users: 10, groups: 2, memberships: 12 }),
    'qsbackup-discover': (p) => ({
      runId: p.runId,
      batchCount: work.length,
      assetCount: world.batches.reduce((a, b) => a + b, 0),
      skippedCount: 0,
      inline: world.inline ?? true,
      batches: (world.inline ?? true) ? work : [],
      batchesBucket: 'bucket',
      batchesKey: `qsbackup/111122223333/us-east-1/runs/${p.runId}/batches.json`,
    }),
    'qsbackup-start-export': (p) => {
      if (!active.has(p.batch)) {
        active.add(p.batch);
        inFlight.max = Math.max(inFlight.max, active.size);
      }
      const [from, to] = p.pending[0];
      return { ...p, jobId: `job-${p.batch}-${from}-${to}`, status: 'Pending', waitSeconds: 1 };
    },
    'qsbackup-check-export': (p) => {
      const n = (polls.get(p.jobId) ?? 0) + 1;
      polls.set(p.jobId, n);
      if (n === 1) return { ...p, status: 'Pending', waitSeconds: 2 };
      const [from, to] = p.pending[0];
      const bad = (world.broken?.[p.batch] ?? []).some((i) => i >= from && i < to);
      return { ...p, status: bad ? 'Failed' : 'Succeeded', waitSeconds: 0 };
    },
    'qsbackup-store-bundle': (p) => finish({ runId: p.runId, batch: p.batch, pending: p.pending.slice(1) }),
    'qsbackup-split-batch': (p) => {
      const [[from, to], ...rest] = p.pending;
      const mid = Math.floor((from + to) / 2);
      const pending = to - from === 1 ? rest : [[from, mid], [mid, to], ...rest];
      return finish({ runId: p.runId, batch: p.batch, pending });
    },
    'qsbackup-finalize': (p) => {
      const failed = Array.isArray(p.export) ? p.export.filter((b: any) => b.error).length : world.batches.length;
      const status = !Array.isArray(p.export) ? 'Failed' : failed > 0 || p.identities?.Error ? 'PartiallyFailed' : 'Completed';
      return { runId: p.runId, status, manifestKey: `qsbackup/111122223333/us-east-1/runs/${p.runId}/manifest.json`, assets: 0, failed, skipped: 0 };
    },
    'qsbackup-prune': () => ({ deleted: 0, kept: 1 }),
  };
  const finish = (w: { runId: string; batch: number; pending: number[][] }) => {
    const done = w.pending.length === 0;
    if (done) active.delete(w.batch);
    return { ...w, done };
  };
  return Object.assign({}, steps, world.handlers ?? {}, { inFlight });
}

const states = (inv: Invocation[]) => inv.map((i) => i.state);
const finalizeInput = (inv: Invocation[]) => inv.find((i) => i.state === 'Finalize')!.input;

test('a happy run: Begin, both branches, every batch stored, Finalize, Prune, RunSucceeded', async () => {
  const steps = fakeSteps({ batches: [50, 50, 20] });
  const r = await runWorkflow(definition, { handlers: steps, input: { mode: 'full' } });
  expect(r.status).toBe('SUCCEEDED');
  expect(r.output).toMatchObject({ runId: RUN_ID, status: 'Completed', prune: { deleted: 0, kept: 1 } });
  expect(states(r.invocations).filter((s) => s === 'StoreBundle')).toHaveLength(3);
  expect(states(r.invocations).slice(-2)).toEqual(['Finalize', 'Prune']);
  const input = finalizeInput(r.invocations);
  expect(input.identities).toEqual({ runId: RUN_ID, namespaces: 1, users: 10, groups: 2, memberships: 12 });
  expect(input.export).toEqual([0, 1, 2].map((batch) => ({ runId: RUN_ID, batch, pending: [], done: true })));
});

test('Begin receives the execution name, and the mode only when the input has one', async () => {
  const withMode = await runWorkflow(definition, { handlers: fakeSteps({ batches: [] }), input: { mode: 'users-only' }, executionName: 'manual-1' });
  expect(withMode.invocations[0]).toMatchObject({ state: 'Begin', input: { executionName: 'manual-1', mode: 'users-only' } });
  const without = await runWorkflow(definition, { handlers: fakeSteps({ batches: [] }), input: {} });
  expect(without.invocations[0].input).toEqual({ executionName: 'local-run' });
});

test('a failed export job Choice-routes through SplitBatch, isolates the bad asset, and the run ends at Finalize', async () => {
  const steps = fakeSteps({ batches: [4, 8], broken: { 1: [5] } });
  const r = await runWorkflow(definition, { handlers: steps });
  expect(r.status).toBe('SUCCEEDED');
  const splits = r.invocations.filter((i) => i.state === 'SplitBatch');
  // [0,8] → [0,4]+[4,8]; [4,8] → [4,6]+[6,8]; [4,6] → [4,5]+[5,6]; [5,6] is the bad asset.
  expect(splits.map((i) => i.input.pending[0])).toEqual([[0, 8], [4, 8], [4, 6], [5, 6]]);
  expect(splits.every((i) => i.input.batch === 1 && i.input.status === 'Failed')).toBe(true);
  // StartExport is re-entered with BatchWork only (no `done`, no job fields).
  const restarts = r.invocations.filter((i) => i.state === 'StartExport' && i.input.batch === 1);
  expect(restarts.length).toBeGreaterThan(1);
  for (const i of restarts) expect(Object.keys(i.input).sort()).toEqual(['batch', 'pending', 'runId']);
  expect(states(r.invocations).slice(-2)).toEqual(['Finalize', 'Prune']);
});

test('a Catch on one batch does not stop the others', async () => {
  const steps = fakeSteps({
    batches: [10, 10, 10],
    handlers: {},
  });
  const start = steps['qsbackup-start-export']!;
  steps['qsbackup-start-export'] = (p, call) => {
    if (p.batch === 1) throw new StepError('NonRetryable', 'InvalidParameterValueException: bad ARN');
    return start(p, call);
  };
  const r = await runWorkflow(definition, { handlers: steps });
  expect(r.status).toBe('SUCCEEDED');
  const exported = finalizeInput(r.invocations).export;
  expect(exported[0]).toMatchObject({ batch: 0, done: true });
  expect(exported[1]).toEqual({ batch: 1, error: { Error: 'NonRetryable', Cause: 'InvalidParameterValueException: bad ARN' } });
  expect(exported[2]).toMatchObject({ batch: 2, done: true });
  // NonRetryable is never retried.
  expect(r.invocations.filter((i) => i.state === 'StartExport' && i.input.batch === 1)).toHaveLength(1);
  expect(r.output.status).toBe('PartiallyFailed');
});

test('Begin NonRetryable (lock held) ends the execution in the Fail state', async () => {
  const steps = fakeSteps({ batches: [10] });
  steps['qsbackup-begin'] = () => {
    throw new StepError('NonRetryable', 'another backup run (20261203T020000Z-zzzzzz) holds the lock');
  };
  const r = await runWorkflow(definition, { handlers: steps });
  expect(r).toMatchObject({ status: 'FAILED', error: 'NonRetryable', cause: expect.stringContaining('holds the lock') });
  expect(states(r.invocations)).toEqual(['Begin']);
});

test('Retryable and Throttled errors are retried; the run carries on', async () => {
  const steps = fakeSteps({ batches: [5] });
  const check = steps['qsbackup-check-export']!;
  steps['qsbackup-check-export'] = (p, call) => {
    if (call.attempt === 1) throw new StepError('Throttled', 'Rate exceeded');
    if (call.attempt === 2) throw new StepError('Retryable', 'connection reset');
    return check(p, call);
  };
  const begin = steps['qsbackup-begin']!;
  steps['qsbackup-begin'] = (p, call) => {
    if (call.attempt === 1) throw new StepError('Lambda.ServiceException', 'Lambda was unavailable');
    return begin(p, call);
  };
  const r = await runWorkflow(definition, { handlers: steps });
  expect(r.status).toBe('SUCCEEDED');
  expect(r.invocations.filter((i) => i.state === 'Begin').map((i) => i.error)).toEqual(['Lambda.ServiceException', undefined]);
  expect(r.invocations.filter((i) => i.state === 'CheckExport').slice(0, 2).map((i) => i.error)).toEqual(['Throttled', 'Retryable']);
});

test('an identities failure becomes data for Finalize; assets are still exported', async () => {
  const steps = fakeSteps({ batches: [3] });
  steps['qsbackup-identities'] = () => {
    throw new StepError('NonRetryable', 'AccessDeniedException: ListUsers');
  };
  const r = await runWorkflow(definition, { handlers: steps });
  expect(r.status).toBe('SUCCEEDED');
  const input = finalizeInput(r.invocations);
  expect(input.identities).toEqual({ Error: 'NonRetryable', Cause: 'AccessDeniedException: ListUsers' });
  expect(input.export).toEqual([{ runId: RUN_ID, batch: 0, pending: [], done: true }]);
});

test('a discovery failure becomes data for Finalize, and a Failed run ends in RunFailed', async () => {
  const steps = fakeSteps({ batches: [3] });
  steps['qsbackup-discover'] = () => {
    throw new StepError('NonRetryable', 'ListDashboards: UnsupportedUserEditionException');
  };
  const r = await runWorkflow(definition, { handlers: steps });
  expect(finalizeInput(r.invocations).export).toEqual({ Error: 'NonRetryable', Cause: 'ListDashboards: UnsupportedUserEditionException' });
  expect(r).toMatchObject({ status: 'FAILED', error: 'RunFailed', cause: expect.stringContaining(`Run ${RUN_ID} failed; see qsbackup/`) });
  // Prune still ran after the manifest was written.
  expect(states(r.invocations).slice(-2)).toEqual(['Finalize', 'Prune']);
});

test('assets-only runs skip the identities step', async () => {
  const r = await runWorkflow(definition, { handlers: fakeSteps({ batches: [2] }), input: { mode: 'assets-only' } });
  expect(states(r.invocations)).not.toContain('Identities');
  expect(finalizeInput(r.invocations).identities).toEqual({ runId: RUN_ID, namespaces: 0, users: 0, groups: 0, memberships: 0 });
});

test('large plans run in the Distributed Map, reading the batch list Discover wrote', async () => {
  const steps = fakeSteps({ batches: [2, 2], inline: false });
  const read: string[] = [];
  const r = await runWorkflow(definition, {
    handlers: steps,
    readItems: (bucket, key) => {
      read.push(`${bucket}/${key}`);
      return [0, 1].map((batch) => ({ runId: RUN_ID, batch, pending: [[0, 2]] }));
    },
  });
  expect(r.status).toBe('SUCCEEDED');
  expect(read).toEqual([`bucket/qsbackup/111122223333/us-east-1/runs/${RUN_ID}/batches.json`]);
  expect(states(r.invocations)).toContain('StartExport-Distributed');
  expect(states(r.invocations)).not.toContain('StartExport');
  expect(finalizeInput(r.invocations).export).toHaveLength(2);
});

test('no more than export.concurrentJobs batches are in flight', async () => {
  const steps = fakeSteps({ batches: Array.from({ length: 9 }, () => 3) });
  const r = await runWorkflow(definition, { handlers: steps });
  expect(r.status).toBe('SUCCEEDED');
  expect(steps.inFlight.max).toBe(3);
});

test('a prune failure does not fail a good run', async () => {
  const steps = fakeSteps({ batches: [1] });
  steps['qsbackup-prune'] = () => {
    throw new StepError('NonRetryable', 'AccessDenied: DeleteObject');
  };
  const r = await runWorkflow(definition, { handlers: steps });
  expect(r.status).toBe('SUCCEEDED');
  expect(r.output.prune).toEqual({ Error: 'NonRetryable', Cause: 'AccessDenied: DeleteObject' });
});
