/** Typed errors. Only src/cli maps them to exit codes (docs/architecture.md "Exit codes": 0 done, 1 step failed, 2 usage, 3 integrity, 4 preflight). */

export const EXIT = { ok: 0, stepFailed: 1, usage: 2, integrity: 3, preflight: 4 } as const
export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

export class EdgebundleError extends Error {
  readonly exitCode: ExitCode
  /** What the user can do about it. */
  readonly hint: string | undefined

  constructor(message: string, exitCode: ExitCode, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.exitCode = exitCode
    this.hint = options.hint
  }
}

/** Bad input from the user: a flag, a config file, a target. */
export class UsageError extends EdgebundleError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, EXIT.usage, options)
  }
}

/** The target is well-formed but not supported; carries the matrix reason. */
export class UnsupportedTargetError extends UsageError {}

/** bundles/ itself is invalid: a defect in the catalog, or in a user's catalog override. */
export class CatalogError extends EdgebundleError {
  readonly problems: string[]
  constructor(message: string, problems: string[]) {
    super(`${message}:\n  - ${problems.join('\n  - ')}`, EXIT.usage)
    this.problems = problems
  }
}
