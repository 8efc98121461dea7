/** Human-readable output of `edgebundle verify` and `edgebundle inspect`. */
import { formatBytes } from '../render/format-bytes.js'
import type { BundleReport } from './inspect.js'


export function formatSignature(signature: BundleReport['signature']): string {
  const key = signature.keyFingerprint === null ? '' : ` (key ${signature.keyFingerprint})`
  switch (signature.status) {
    case 'verified':
      return `signed, verified${key}`
    case 'invalid':
      return `signed, DOES NOT VERIFY${key}`
    case 'unverified':
      return 'signed, not verified (no public key given)'
    case 'unsigned':
      return 'not signed'
  }
}

function problemLines(report: BundleReport): string[] {
  return report.problems.map((problem) => `  - ${problem.message}`)
}

/** The verify report: a verdict, what was checked, and every problem. */
export function formatVerify(report: BundleReport): string {
  const lines: string[] = []
  const label = report.name ?? report.archive.file
  if (report.ok) {
    lines.push(`${label}: OK`)
    lines.push(`  ${report.fileCount} files, ${formatBytes(report.totalSize)}: every file matches SHA256SUMS${report.manifest?.files !== undefined ? ' and manifest.json' : ''}`)
  } else {
    lines.push(`${label}: FAILED, ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}:`)
    lines.push(...problemLines(report))
  }
  lines.push(`  signature: ${formatSignature(report.signature)}`)
  for (const note of report.notes) lines.push(`  note: ${note}`)
  return `${lines.join('\n')}\n`
}

function table(rows: string[][], indent = '  '): string[] {
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)))
  return rows.map((row) => `${indent}${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}`.trimEnd())
}

/** The inspect report: what the bundle is, what it carries, what it will do, and whether it is intact. */
export function formatInspect(report: BundleReport): string {
  const lines: string[] = []
  const { manifest, plan, target } = report
  lines.push(`bundle      ${report.name ?? '(none)'}  (${report.archive.format}, ${formatBytes(report.archive.size)})`)
  if (target !== null) lines.push(`target      ${target.os}/${target.arch}, runtime ${target.runtime}, KubeEdge ${target.kubeedge}`)
  if (plan !== null) {
    lines.push(`runtime     ${plan.runtime.name} ${plan.runtime.version} (${plan.runtime.source})`)
    lines.push(`kubeedge    ${plan.kubeedge.version}`)
  }
  if (manifest !== null) {
    const epoch = new Date(manifest.sourceDateEpoch * 1000).toISOString()
    lines.push(`built by    edgebundle ${manifest.edgebundleVersion}, SOURCE_DATE_EPOCH ${manifest.sourceDateEpoch} (${epoch})`)
    lines.push(`components  ${manifest.components.length}`)
    lines.push(...table(manifest.components.map((c) => [c.id, c.version, c.file])))
  }
  if (plan !== null) {
    lines.push(`plan        schemaVersion ${plan.schemaVersion}, ${plan.steps.length} steps`)
    const width = String(plan.steps.length).length
    lines.push(...table(plan.steps.map((step, i) => [`${String(i + 1).padStart(width)}.`, step.kind, step.description])))
  }
  lines.push(`files       ${report.fileCount}, ${formatBytes(report.totalSize)} (${report.totalSize} bytes)`)
  lines.push(`checksums   ${report.checksums.present ? `SHA256SUMS lists ${report.checksums.listed} files` : 'no SHA256SUMS'}`)
  lines.push(`signature   ${formatSignature(report.signature)}`)
  for (const note of report.notes) lines.push(`note        ${note}`)
  if (report.ok) lines.push('integrity   OK')
  else {
    lines.push(`integrity   FAILED, ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}:`)
    lines.push(...problemLines(report))
  }
  return `${lines.join('\n')}\n`
}
