/**
 * Ends the process with the exit code `work` settles on. exitCode rather than exit(): output written to
 * a pipe or file drains first. Should `work` never settle because it waits for something nothing will
 * deliver (a bug), Node would otherwise exit 0 as soon as nothing is left to run: silently, having done
 * half the job. That case exits 1 and says so instead.
 */
export function finishWith(work: Promise<number>, stderr: (text: string) => void, program: string): void {
  let settled = false
  const stalled = () => {
    if (settled) return
    settled = true
    stderr(`${program}: internal error: the command stopped before it finished, with nothing left to wait for; this is a bug, please report it\n`)
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
