/**
 * Is this node ready to join? What `keadm join` needs before it reaches for the network: keadm of the
 * pinned version (it is run with --kubeedge-version=v<release>; another keadm writes another edgecore
 * config), and every image it asks the runtime for already in the runtime's store, found the way keadm
 * looks (CRI ImageStatus with keadm's own reference; keadm pulls only when that finds nothing:
 * pkg/image/image_runtime.go PullImage at v1.23.1, keadm/cmd/keadm/app/cmd/util/image.go at v1.12.7).
 *
 * On Windows keadm join pulls no image; it reads kubeedge-v<ver>-windows-<arch>.tar.gz from C:\etc\kubeedge\
 * and downloads it when absent, and compares the tarball's SHA-512 with the checksum file beside it, asking on
 * the terminal when they differ (installKubeEdge and checkSum in keadm/cmd/keadm/app/cmd/util/common_windows.go,
 * v1.16.6 … v1.23.1). So both must be there and agree, checked the way keadm checks: the file's content
 * without newlines equals the lower-case hex SHA-512.
 *
 * `install --join` refuses to run keadm until this holds; `status` reports it.
 */
import { createHash } from 'node:crypto'
import type { Plan } from '../model/plan.js'
import { normalizeImageReference } from './cri/sandbox-image.js'
import type { Node } from './node.js'
import type { NodeFs } from './node-fs.js'

export interface JoinReadiness {
  ready: boolean
  /** What keadm reports as its GitVersion, or null when keadm is missing or says nothing we can read. */
  keadmVersion: string | null
  images: { image: string; carried: boolean; present: boolean | null }[]
  /** The release files keadm join reads instead of downloading (Windows), and whether each is in place and matches. */
  files: { path: string; checksumPath: string; ready: boolean }[]
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

/** The digest keadm computes of a file (computeSHA512Checksum: "%x" of sha512); read whole, as NodeFs reads (tens of MB). */
async function sha512Of(fs: Pick<NodeFs, 'readFile'>, path: string): Promise<string> {
  return createHash('sha512').update(await fs.readFile(path)).digest('hex')
}

/** Why keadm would not take this release file offline, or null when it would. */
async function joinFileProblem(fs: Pick<NodeFs, 'lstat' | 'readFile'>, file: NonNullable<Plan['kubeedge']['joinFiles']>[number]): Promise<string | null> {
  const [tarball, checksum] = await Promise.all([fs.lstat(file.path), fs.lstat(file.checksumPath)])
  if (tarball === null || !tarball.isFile()) return `${file.path} is missing, so keadm join would download it`
  if (checksum === null || !checksum.isFile()) return `${file.checksumPath} is missing, so keadm join would download it`
  // keadm removes "\n" only; a \r (a file saved on Windows) makes its comparison fail, so it fails here too.
  const published = (await fs.readFile(file.checksumPath)).toString('utf8').replace(/\n/g, '')
  const actual = await sha512Of(fs, file.path)
  if (published !== actual) return `${file.path} does not match ${file.checksumPath} (SHA-512 ${actual}), so keadm join would stop and ask whether to download it again`
  return null
}

/** What the check reads of the node: keadm (its file or PATH, its version), the runtime's images, the join files. */
export interface JoinReadinessNode {
  system: Node['system']
  cri: Pick<Node['cri'], 'imagesPresent'>
  fs: Pick<Node['fs'], 'lstat' | 'readFile'>
}

export async function joinReadiness(plan: Plan, node: JoinReadinessNode): Promise<JoinReadiness> {
  const { system, cri, fs } = node
  const problems: JoinReadiness['problems'] = []
  const warnings: string[] = []
  const pinned = `v${plan.kubeedge.release}`
  let keadmVersion: string | null = null
  // The bundle's own keadm is run by its path (keadm.exe is not on PATH on Windows); else keadm from PATH.
  const keadm = plan.kubeedge.keadm ?? 'keadm'
  const keadmThere = plan.kubeedge.keadm !== undefined ? (await fs.lstat(plan.kubeedge.keadm))?.isFile() === true : system.which('keadm') !== null
  if (!keadmThere) {
    problems.push({
      message: plan.kubeedge.keadm !== undefined ? `keadm is not installed at ${plan.kubeedge.keadm}` : 'keadm is not installed',
      hint:
        plan.target.os === 'windows'
          ? plan.kubeedge.keadm !== undefined
            ? 'Run the install again on this node (without --root): it places keadm.exe.'
            : `Put keadm.exe ${pinned} (KubeEdge's keadm-${pinned}-windows-amd64 release) on PATH; this bundle does not carry it.`
          : 'Build the bundle with --pull-kubeedge-images (or --image-archive) so it carries keadm, and install it again.',
    })
  } else {
    const result = await system.run(keadm, ['version'])
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
      const answer = await cri.imagesPresent(plan.runtime.endpoint, wanted)
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
  const files: JoinReadiness['files'] = []
  for (const file of plan.kubeedge.joinFiles ?? []) {
    const problem = await joinFileProblem(fs, file)
    files.push({ path: file.path, checksumPath: file.checksumPath, ready: problem === null })
    if (problem !== null) problems.push({ message: problem, hint: 'Run the install again on this node (without --root): it places both files as the bundle carries them.' })
  }
  return { ready: problems.length === 0, keadmVersion, images, files, problems, warnings }
}
