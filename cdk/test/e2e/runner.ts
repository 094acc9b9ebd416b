// Runs the synthesized state machine offline with aws-local-stepfunctions. Each Lambda task is
// answered by a handler per step binary: fake JS handlers in unit tests, or the real Rust
// handlers behind `cargo lambda watch` (its Invoke API) in the e2e test.
//
// What differs from AWS, and why:
// - Wait states and Retry intervals are shortened (waitMs, retryMs).
// - The Distributed Map's S3 ItemReader cannot run offline: after a task returns
//   `{inline: false, batchesBucket, batchesKey}`, `readItems` loads the batch list and the Map
//   reads it from `$.__items` instead. Everything inside the Map is unchanged.
// - The execution context is mocked (name, id, start time).

import './polyfill';
import { StateMachine } from 'aws-local-stepfunctions';
import type { StepBinary } from '../../lib/permissions';
import { TASK_BINARIES } from '../../lib/workflow';

/** An error a step handler reports; `name` is the Lambda errorType that Retry/Catch match. */
export class StepError extends Error {
  constructor(errorType: string, message: string) {
    super(message);
    this.name = errorType;
  }
}

/** Answers one invocation of a step with its response payload, or throws a StepError. */
export type StepHandler = (payload: any, call: { state: string; binary: StepBinary; attempt: number }) => Promise<unknown> | unknown;
export type StepHandlers = Partial<Record<StepBinary, StepHandler>>;

export interface Invocation {
  readonly state: string;
  readonly binary: StepBinary;
  readonly input: any;
  output?: any;
  error?: string;
}

export interface RunOptions {
  readonly handlers: StepHandlers;
  /** Execution input. @default {} */
  readonly input?: unknown;
  /** @default 'local-run' */
  readonly executionName?: string;
  /** Duration of every Wait state, in ms. @default 1 */
  readonly waitMs?: number;
  /** Pause before every retry, in ms. @default 0 */
  readonly retryMs?: number;
  /** Replaces every task's TimeoutSeconds (e.g. for a first `cargo lambda watch` build). */
  readonly taskTimeoutSeconds?: number;
  /** Loads the batch list for the Distributed Map (what its ItemReader reads from S3). */
  readonly readItems?: (bucket: string, key: string) => Promise<unknown[]> | unknown[];
}

export interface RunResult {
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly output?: any;
  readonly error?: string;
  readonly cause?: string;
  /** Every task invocation in the order they started. */
  readonly invocations: Invocation[];
}

type States = Record<string, any>;
const LAMBDA_INVOKE = /^arn:[a-z-]+:states:::lambda:invoke$/;

/** Visits every state, in branches and item processors too. */
function forEachState(states: States, fn: (name: string, state: any) => void): void {
  for (const [name, state] of Object.entries(states)) {
    fn(name, state);
    for (const branch of state.Branches ?? []) forEachState(branch.States, fn);
    const processor = state.ItemProcessor ?? state.Iterator;
    if (processor) forEachState(processor.States, fn);
  }
}

/** The definition as it runs offline (see the header) — a copy, the input is left alone. */
export function localDefinition(definition: unknown, taskTimeoutSeconds?: number): any {
  const def = JSON.parse(JSON.stringify(definition));
  forEachState(def.States, (_name, state) => {
    if (state.Type === 'Map' && state.ItemReader) {
      delete state.ItemReader;
      state.ItemsPath = '$.__items';
    }
    if (state.Type === 'Task' && taskTimeoutSeconds !== undefined) state.TimeoutSeconds = taskTimeoutSeconds;
  });
  return def;
}

/** Runs `definition` (resolved ASL, see test/support/definition.ts) to its end. */
export async function runWorkflow(definition: unknown, opts: RunOptions): Promise<RunResult> {
  const def = localDefinition(definition, opts.taskTimeoutSeconds);
  const invocations: Invocation[] = [];
  const attempts = new Map<string, number>();
  const taskResourceLocalHandlers: Record<string, (input: any) => Promise<any>> = {};
  const waitTimeOverrides: Record<string, number> = {};
  const retryIntervalOverrides: Record<string, number> = {};

  forEachState(def.States, (name, state) => {
    if (state.Type === 'Wait') waitTimeOverrides[name] = opts.waitMs ?? 1;
    if (state.Type !== 'Task') return;
    retryIntervalOverrides[name] = opts.retryMs ?? 0;
    const binary = TASK_BINARIES[name];
    if (!binary) throw new Error(`task state ${name} runs no known step binary (see TASK_BINARIES in lib/workflow.ts)`);
    const envelope = LAMBDA_INVOKE.test(state.Resource);
    taskResourceLocalHandlers[name] = async (input: any) => {
      const handler = opts.handlers[binary];
      if (!handler) throw new StepError('NoHandler', `no handler for ${binary} (state ${name})`);
      // lambda:invoke passes {FunctionName, Payload} and returns {Payload, StatusCode}.
      const payload = envelope ? input.Payload : input;
      const key = `${name}:${JSON.stringify(payload)}`;
      const attempt = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, attempt);
      const call: Invocation = { state: name, binary, input: payload };
      invocations.push(call);
      try {
        let out: any = await handler(payload, { state: name, binary, attempt });
        call.output = out;
        if (out && typeof out === 'object' && out.inline === false && typeof out.batchesKey === 'string') {
          if (!opts.readItems) throw new Error(`${name} returned inline=false but the run has no readItems to load ${out.batchesKey}`);
          out = { ...out, __items: await opts.readItems(out.batchesBucket, out.batchesKey) };
        }
        return envelope ? { ExecutedVersion: '$LATEST', Payload: out, StatusCode: 200 } : out;
      } catch (e) {
        call.error = (e as Error).name;
        throw e;
      }
    };
  });

  const machine = new StateMachine(def, { validationOptions: { checkArn: false } });
  const name = opts.executionName ?? 'local-run';
  const input = opts.input ?? {};
  const execution = machine.run(input as any, {
    overrides: { taskResourceLocalHandlers, waitTimeOverrides, retryIntervalOverrides },
    context: {
      Execution: {
        Id: `arn:aws:states:us-east-1:111122223333:execution:qsbackup:${name}`,
        Name: name,
        Input: input as any,
        StartTime: new Date().toISOString(),
        RoleArn: 'arn:aws:iam::111122223333:role/qsbackup-local',
      },
      StateMachine: { Id: 'arn:aws:states:us-east-1:111122223333:stateMachine:qsbackup', Name: 'qsbackup' },
    },
  });
  try {
    const output = await execution.result;
    return { status: 'SUCCEEDED', output, invocations };
  } catch (e) {
    const cause = ((e as Error).cause as Error | undefined) ?? (e as Error);
    return { status: 'FAILED', error: cause.name, cause: cause.message, invocations };
  }
}

/**
 * Handlers that POST each invocation to `cargo lambda watch`:
 * `${endpoint}/2015-03-31/functions/<binary>/invocations`. A function error (X-Amz-Function-Error,
 * or an error status with `{errorType, errorMessage}`) becomes a StepError named errorType.
 */
export function httpHandlers(endpoint: string, timeoutMs = 15 * 60 * 1000): StepHandlers {
  const base = endpoint.replace(/\/+$/, '');
  const handler: StepHandler = async (payload, { binary }) => {
    const res = await fetch(`${base}/2015-03-31/functions/${binary}/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let body: any;
    try {
      body = text.length > 0 ? JSON.parse(text) : null;
    } catch {
      body = text;
    }
    const functionError = res.headers.get('x-amz-function-error');
    if (functionError || !res.ok) {
      const errorType = (body && typeof body === 'object' && body.errorType) || (functionError ?? `HTTP${res.status}`);
      const message = (body && typeof body === 'object' && body.errorMessage) || text;
      throw new StepError(String(errorType), String(message));
    }
    return body;
  };
  return Object.fromEntries(Object.values(TASK_BINARIES).map((b) => [b, handler])) as StepHandlers;
}
