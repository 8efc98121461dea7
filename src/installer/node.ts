/**
 * The node, as the installer reaches it: one object, so a test or the crash harness stands in for the
 * whole node by giving one fake (or wrapping the real one, hostNode() in host.ts). Each part of the
 * installer takes the narrow view it needs (Pick<Node, 'fs' | 'system'>), so what it can touch shows
 * in its signature. Everything else in the installer is pure or reads only the bundle.
 *
 * The groups overlap on purpose in one place: `probe` reads synchronously, as install.sh's tests do, so
 * preflight stays a plain function of what it reads; `fs` and `system` are the async paths that change
 * the node.
 */
import type { NodeFs } from './node-fs.js'
import type { NodeProbe } from './preflight.js'
import type { NodeSystem } from './system.js'

export interface RuntimeCheck {
  /** The runtime answered: name and version as it reports them. */
  runtime: string
  /** Conditions that are not true (RuntimeReady, NetworkReady), with reasons. */
  notReady: string[]
  /** The sandbox image the runtime reports, when it reports one. */
  sandboxImage: string | null
}

/** The container runtime over CRI. */
export interface NodeCri {
  /** Asks the runtime over CRI; throws when it does not answer. null: this endpoint cannot be dialled here. */
  checkRuntime(endpoint: string, sandboxImage: string): Promise<RuntimeCheck | null>
  /**
   * ImageStatus for each image, named as keadm names it: whether the runtime holds it. null: this endpoint
   * cannot be dialled here; throws when the runtime does not answer.
   */
  imagesPresent(endpoint: string, images: readonly string[]): Promise<boolean[] | null>
}

export interface Node {
  /** Its filesystem: every change the installer makes to a file (host paths, already mapped under --root). */
  fs: NodeFs
  /** Its commands (systemctl, dpkg, sc.exe, docker, keadm, …), run without a shell. */
  system: NodeSystem
  /** What preflight and the kernel-module step read of it (host paths). */
  probe: NodeProbe
  /** Its container runtime. */
  cri: NodeCri
}
