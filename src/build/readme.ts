/** The bundle's README.md: what is inside, how to run it, and the keadm join line for this target. */
import type { Plan } from '../model/plan.js'
import { compileTemplate } from '../render/handlebars.js'
import type { TemplateSource } from '../model/templates.js'

export interface ReadmeInput {
  plan: Plan
  osName: string
  edgebundleVersion: string
  components: { id: string; version: string; file: string }[]
  imageCarried: boolean
  /** The images keadm join asks for that the bundle carries, as the runtime names them. */
  kubeedgeImages?: string[]
  /** The bundle file keadm is installed from, when the bundle carries it. */
  keadm?: string | null
  signed: boolean
  /** The bundle carries archives.json. */
  archiveIndex: boolean
}

export function renderBundleReadme(input: ReadmeInput, templates: TemplateSource): string {
  const { plan } = input
  const windows = plan.target.os === 'windows'
  // Windows: the bundle's keadm.exe is run by its path (keadm puts no folder on PATH).
  const keadm = windows ? (plan.kubeedge.keadm ?? 'keadm.exe') : 'keadm'
  return compileTemplate<Record<string, unknown>>(templates('bundle-README.md.hbs'))({
    name: plan.name,
    osName: input.osName,
    arch: plan.target.arch,
    kubeedge: plan.kubeedge.version,
    runtimeName: plan.runtime.name,
    runtimeVersion: plan.runtime.version,
    runtimeSource: plan.runtime.source,
    edgebundleVersion: input.edgebundleVersion,
    endpoint: plan.runtime.endpoint,
    cgroupDriver: windows ? 'none (Windows)' : plan.options.cgroupDriver,
    pauseImage: plan.options.pauseImage,
    imageCarried: input.imageCarried,
    kubeedgeImages: input.kubeedgeImages ?? [],
    keadm: input.keadm ?? null,
    release: plan.kubeedge.release,
    keadmPath: windows ? (plan.kubeedge.keadm ?? null) : null,
    joinFiles: plan.kubeedge.joinFiles ?? [],
    cniSubnet: windows ? 'set by the Windows network (HNS)' : plan.options.cniSubnet,
    windows,
    keadmJoin: [`${keadm} join --cloudcore-ipport=<CLOUDCORE_IP:PORT> --token=<TOKEN>`, ...plan.kubeedge.keadmJoinArgs].join(' '),
    postJoinKeys: (plan.kubeedge.edgecoreConfig?.set ?? []).map((entry) => entry.key.join('.')).join(', ') || null,
    edgecoreConfigPath: plan.kubeedge.edgecoreConfig?.path ?? null,
    steps: plan.steps.map((step) => step.description),
    components: input.components,
    signed: input.signed,
    archiveIndex: input.archiveIndex,
    archiveExtension: windows ? 'zip' : 'tar.gz',
  })
}
