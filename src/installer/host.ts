/**
 * The real node: its filesystem, its commands, and the services steps use (preflight's probe, the
 * archive reader, the CRI client). main.ts runs the installer with it; tests that stop the process on
 * purpose wrap it.
 */
import { machine } from 'node:os'
import { digestsOf, extractArchive, indexArchive } from './archive/index.js'
import { checkRuntimeOverCri, imagesPresentOverCri } from './cri/client.js'
import type { StepServices } from './execute.js'
import { hostFs } from './node-fs.js'
import { hostProbe, moduleLoaded, runPreflight } from './preflight.js'
import type { NodeAccess } from './run.js'
import { hostSystem } from './system.js'

/** A just-restarted runtime may take a while to open its socket: 15 tries a second apart, as install.sh waits. */
const CRI_PATIENCE = { timeoutMs: 5000, attempts: 15, delayMs: 1000 }

export function hostServices({ root, dryRun, style, scans }: Parameters<NodeAccess['services']>[0]): StepServices {
  return {
    moduleLoaded: (name) => moduleLoaded(hostProbe(), name),
    preflight: async (checks) => runPreflight(checks, { root, dryRun, platform: style === 'windows' ? 'windows' : 'linux' }, hostProbe()),
    async extractArchive(file, format, strip, into, { contents }) {
      if (contents && (await scans.takeUnpacked(file, format, strip, into))) return
      const scanned = await scans.done(file, format, strip)
      await extractArchive(file, format, strip, into, scanned ? { scanned, contents } : { contents })
    },
    archiveDigests: async (file, format, strip) => (await scans.indexedDigests(file, format, strip)) ?? digestsOf(await indexArchive(file, format, strip)),
    async checkRuntime(endpoint, sandboxImage) {
      const report = await checkRuntimeOverCri(endpoint, sandboxImage, CRI_PATIENCE)
      if (report.kind === 'unsupported-endpoint') return null
      return {
        runtime: `${report.version.runtimeName} ${report.version.runtimeVersion} (CRI ${report.version.runtimeApiVersion})`,
        notReady: report.conditions.filter((c) => !c.status).map((c) => `${c.type} is not true${c.reason ? `: ${c.reason}` : ''}${c.message ? ` (${c.message})` : ''}`),
        sandboxImage: report.sandboxImage.reported,
      }
    },
    imagesPresent: (endpoint, images) => imagesPresentOverCri(endpoint, images, CRI_PATIENCE),
  }
}

export function hostNodeAccess(): NodeAccess {
  return { fs: hostFs(), system: hostSystem(() => machine()), services: hostServices }
}
