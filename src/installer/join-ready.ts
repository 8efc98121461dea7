/**
 * Is this node ready to join? What `keadm join` needs before it reaches for the network: keadm of the
 * pinned version (it is run with --kubeedge-version=v<release>; another keadm writes another edgecore
 * config), and every image it asks the runtime for already in the runtime's store, found the way keadm
 * looks (CRI ImageStatus with keadm's own reference; keadm pulls only when that finds nothing:
 * pkg/image/image_runtime.go PullImage at v1.23.1, keadm/cmd/keadm/app/cmd/util/image.go at v1.12.7).
 *
 * `install --join` refuses to run keadm until this holds; `status` reports it.
 */
import type { Plan } from '../model/plan.js'
import { normalizeImageReference } from './cri/sandbox-image.js'
import type { StepServices } from './execute.js'
import type { NodeSystem } from './system.js'

export interface JoinReadiness {
  ready: boolean
  /** What keadm reports as its GitVersion, or null when keadm is missing or says nothing we can read. */
  keadmVersion: string | null
  images: { image: string; carried: boolean; present: boolean | null }[]
  /** Why the node is not ready, each with what to do. */
  problems: { message: string; hint: string }[]
  /** What keadm would reach the network for, though the bundle never promised it. */
  warnings: string[]
}

/** GitVersion from `keadm version` ("version: version.Info{Major:"1", …, GitVersion:"v1.23.1", …}": keadm/cmd/keadm/app/cmd/version.go, v1.12.7 … v1.23.1). */
export function keadmGitVersion(output: string): string | null {
  return /GitVersion:"(v?[0-9A-Za-z.+-]+)"/.exec(output)?.[1] ?? null
}

/** The images the plan imports, normalized as the runtime records them. */
function carriedImages(plan: Plan): Set<string> {
  return new Set(plan.steps.flatMap((step) => (step.kind === 'import-image' ? [normalizeImageReference(step.image)] : [])))
}

export async function joinReadiness(plan: Plan, system: NodeSystem, services: Pick<StepServices, 'imagesPresent'>): Promise<JoinReadiness> {
  const problems: JoinReadiness['problems'] = []
  const warnings: string[] = []
  const pinned = `v${plan.kubeedge.release}`
  let keadmVersion: string | null = null
  if (system.which('keadm') === null) {
    problems.push({
      message: 'keadm is not installed',
      hint:
        plan.target.os === 'windows'
          ? `Put keadm.exe ${pinned} (KubeEdge's keadm-${pinned}-windows-amd64 release) on PATH; Windows bundles do not carry it.`
          : 'Build the bundle with --pull-kubeedge-images (or --image-archive) so it carries keadm, and install it again.',
    })
  } else {
    const result = await system.run('keadm', ['version'])
    keadmVersion = result.code === 0 ? keadmGitVersion(result.stdout) : null
    if (keadmVersion !== pinned) {
      problems.push({
        message: keadmVersion === null ? `keadm version did not report a version (exit ${result.code})` : `keadm is ${keadmVersion}, not the ${pinned} this bundle is for`,
        hint: `Put keadm ${pinned} first on PATH (the bundle installs it as /usr/local/bin/keadm when it carries it).`,
      })
    }
  }

  const carried = carriedImages(plan)
  // keadm join on Windows runs no container: it downloads edgecore (join_windows.go), so there is no image to check.
  const wanted = plan.target.os === 'windows' ? [] : plan.kubeedge.images
  let present: (boolean | null)[] = wanted.map(() => null)
  if (wanted.length > 0) {
    try {
      const answer = await services.imagesPresent(plan.runtime.endpoint, wanted)
      if (answer === null) warnings.push(`the runtime at ${plan.runtime.endpoint} cannot be asked from here whether it holds ${wanted.join(', ')}`)
      else present = answer
    } catch (error) {
      problems.push({ message: `the runtime does not answer at ${plan.runtime.endpoint}: ${(error as Error).message}`, hint: 'Start the runtime, then run the install again with --join.' })
    }
  }
  const images = wanted.map((image, index) => ({ image, carried: carried.has(normalizeImageReference(image)), present: present[index] ?? null }))
  for (const image of images) {
    if (image.present !== false) continue
    if (image.carried) {
      problems.push({ message: `the runtime does not hold ${image.image}, so keadm would pull it`, hint: 'Run the install again on this node (without --root): it loads the images the bundle carries into the runtime.' })
    } else {
      warnings.push(`the runtime does not hold ${image.image} and the bundle does not carry it: keadm join will pull it from its registry`)
    }
  }
  return { ready: problems.length === 0, keadmVersion, images, problems, warnings }
}
