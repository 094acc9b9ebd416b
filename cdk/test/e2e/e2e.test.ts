// Offline execution of the synthesized state machine against the real Rust handlers, served by
// `cargo lambda watch` (Lambda Invoke API). Runs only when QSBACKUP_LAMBDA_ENDPOINT is set:
//
//   # the handlers read their configuration from the environment, like in AWS:
//   eval "$(npx ts-node --transpile-only test/e2e/env.ts ../examples/minimal.yaml)"
//   export AWS_REGION=us-east-1 AWS_ENDPOINT_URL=http://127.0.0.1:<moto> AWS_ENDPOINT_URL_QUICKSIGHT=http://127.0.0.1:<emulator> ...
//   (cd .. && cargo lambda watch -p qsbackup-lambda) &
//   QSBACKUP_LAMBDA_ENDPOINT=http://127.0.0.1:9000 npx jest test/e2e/e2e.test.ts
//
// Optional: QSBACKUP_E2E_POLICY (default ../examples/minimal.yaml); QSBACKUP_E2E_STORAGE_DIR,
// a local directory holding the storage keys, for plans large enough for the Distributed Map.

import * as fs from 'fs';
import * as path from 'path';
import { definitionOf } from '../support/definition';
import { EXAMPLES_DIR, synthPolicy } from '../support/synth';
import { httpHandlers, runWorkflow } from './runner';

const endpoint = process.env.QSBACKUP_LAMBDA_ENDPOINT;
const maybe = endpoint ? describe : describe.skip;
const title = endpoint
  ? `workflow against the Rust handlers at ${endpoint}`
  : 'workflow against the Rust handlers — SKIPPED: set QSBACKUP_LAMBDA_ENDPOINT to a `cargo lambda watch` URL (e.g. http://127.0.0.1:9000) to run it';

maybe(title, () => {
  const policyFile = process.env.QSBACKUP_E2E_POLICY ?? path.join(EXAMPLES_DIR, 'minimal.yaml');
  let definition: any;
  beforeAll(() => {
    const { templates } = synthPolicy(policyFile);
    definition = definitionOf(Object.values(templates)[0]);
  });

  test(
    'a full run goes Begin → Identities ∥ Discover/Map → Finalize → Prune and commits a manifest',
    async () => {
      const r = await runWorkflow(definition, {
        handlers: httpHandlers(endpoint!),
        input: { mode: 'full' },
        executionName: `e2e-${Date.now()}`,
        waitMs: 200,
        retryMs: 100,
        taskTimeoutSeconds: 900, // the first request makes `cargo lambda watch` build the binary
        readItems: (_bucket, key) => {
          const dir = process.env.QSBACKUP_E2E_STORAGE_DIR;
          if (!dir) throw new Error(`plan needs the Distributed Map; set QSBACKUP_E2E_STORAGE_DIR to read ${key}`);
          return JSON.parse(fs.readFileSync(path.join(dir, key), 'utf8'));
        },
      });
      const trail = r.invocations.map((i) => `${i.state}${i.error ? `!${i.error}` : ''}`).join(' → ');
      expect({ status: r.status, error: r.error, cause: r.cause, trail }).toMatchObject({ status: 'SUCCEEDED' });
      expect(r.invocations[0].state).toBe('Begin');
      expect(r.invocations.map((i) => i.state)).toEqual(expect.arrayContaining(['Identities', 'Discover', 'Finalize', 'Prune']));
      expect(r.output).toMatchObject({ runId: expect.stringMatching(/^\d{8}T\d{6}Z-[a-z0-9]{6}$/), manifestKey: expect.stringContaining('manifest.json') });
      expect(['Completed', 'PartiallyFailed']).toContain(r.output.status);
    },
    30 * 60 * 1000,
  );
});
