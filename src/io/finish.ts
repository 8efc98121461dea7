/**
 * Ends the process with the exit code `work` settles on. exitCode rather than exit(): output written to
 * a pipe or file drains first. Should `work` never settle because it waits for something nothing will
 * deliver (a bug), Node would otherwise exit 0 as soon as nothing is left to run: silently, having done
 * half the job. That case exits 1 and says so instead.
 */
/** Work in progress, named for the stall message ("ubuntu/arm64/kata: archive index"). */
const inFlight = new Set<string>()

/** Runs `work` named `label` for as long as it runs: a stall names what had not finished. */
export async function tracked<T>(label: string, work: () => Promise<T> | T): Promise<T> {
  inFlight.add(label)
  try {
    return await work()
  } finally {
    inFlight.delete(label)
  }
}

export function finishWith(work: Promise<number>, stderr: (text: string) => void, program: string): void {
  let settled = false
  const stalled = () => {
    if (settled) return
    settled = true
    const unfinished = inFlight.size > 0 ? ` (unfinished: ${[...inFlight].join('; ')})` : ''
    stderr(`${program}: internal error: the command stopped before it finished, with nothing left to wait for${unfinished}; this is a bug, please report it\n`)
    process.exitCode = 1
  }
  process.on('beforeExit', stalled)
  work.then(
    (code) => {
      if (settled) return
      settled = true
      process.off('beforeExit', stalled)
      process.exitCode = code
    },
    (error: unknown) => {
      if (settled) return
      settled = true
      process.off('beforeExit', stalled)
      stderr(`${program}: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
      process.exitCode = 1
    },
  )
}
