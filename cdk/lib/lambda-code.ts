// Where each step's Lambda code comes from: the cargo-lambda zip, or (for tests and offline
// synth) a tiny placeholder. Never builds anything itself: synth stays fast and needs no
// Docker or cargo.

import * as fs from 'fs';
import * as path from 'path';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { repoRoot } from './policy';

/** The environment variable that switches to the placeholder code. */
export const SKIP_BUNDLING_ENV = 'QSBACKUP_SKIP_BUNDLING';

export const BUILD_COMMAND = 'cargo lambda build --release --arm64 --output-format zip -p qsbackup-lambda';

/** Returns the code of one step binary (e.g. `qsbackup-begin`). */
export type CodeProvider = (binary: string) => lambda.Code;

export function placeholderCode(): lambda.Code {
  return lambda.Code.fromAsset(path.join(__dirname, '..', 'placeholder-lambda'));
}

/** Code from `<repo>/target/lambda/<binary>/bootstrap.zip`; fails with the build command when absent. */
export function builtCode(root: string = repoRoot()): CodeProvider {
  return (binary) => {
    const zip = path.join(root, 'target', 'lambda', binary, 'bootstrap.zip');
    if (!fs.existsSync(zip)) {
      throw new Error(
        `Lambda package ${zip} is missing. Build the handlers first (from ${root}):\n  ${BUILD_COMMAND}\n` +
          `or set ${SKIP_BUNDLING_ENV}=1 to synthesize with placeholder code (not deployable).`,
      );
    }
    return lambda.Code.fromAsset(zip);
  };
}

/** The default: placeholder when QSBACKUP_SKIP_BUNDLING is set to a non-empty value other than 0/false. */
export function defaultCodeProvider(env: NodeJS.ProcessEnv = process.env): CodeProvider {
  const skip = env[SKIP_BUNDLING_ENV];
  if (skip !== undefined && skip !== '' && skip !== '0' && skip.toLowerCase() !== 'false') {
    // A new Code per call: an asset binds to one stack, and the app has a stack per target.
    return () => placeholderCode();
  }
  return builtCode();
}
