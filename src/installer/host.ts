/**
 * The real node: its filesystem, its commands, the probe preflight reads and its runtime over CRI.
 * main.ts runs the installer with it; tests that stop the process on purpose wrap it.
 */
import { checkRuntimeOverCri, imagesPresentOverCri } from './cri/client.js'
import type { Node, NodeCri } from './node.js'
import { hostFs } from './node-fs.js'
import { hostProbe } from './preflight.js'
import { hostSystem } from './system.js'

/** A just-restarted runtime may take a while to open its socket: 15 tries a second apart, as install.sh waits. */
const CRI_PATIENCE = { timeoutMs: 5000, attempts: 15, delayMs: 1000 }

export function hostCri(): NodeCri {
  return {
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

export function hostNode(): Node {
  return { fs: hostFs(), system: hostSystem(), probe: hostProbe(), cri: hostCri() }
}
