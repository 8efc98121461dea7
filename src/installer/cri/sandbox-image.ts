/**
 * The sandbox (pause) image a runtime reports over CRI, and whether it is the one the bundle configured.
 *
 * There is no CRI field for it; the de-facto place (the one kubeadm's preflight reads with
 * `crictl info -o go-template --template {{.config.sandboxImage}}`) is the JSON in
 * StatusResponse.info["config"] of a verbose Status:
 *   - containerd 1.x: the CRI plugin's whole config, with `sandboxImage` (pkg/cri/server/status.go);
 *   - CRI-O: `{"sandboxImage": <[crio.image] pause_image>}` (server/runtime_status.go, createRuntimeInfo);
 *   - cri-dockerd: `{"sandboxImage": <--pod-infra-container-image, else its default>}` (core/docker_service.go).
 * Not reported, so `null`:
 *   - containerd 2.x: info["config"] is the runtime config, and the sandbox image moved to the images
 *     plugin's pinned_images, which Status does not include (kubeadm then warns about sandbox image "",
 *     kubernetes/kubeadm#3146);
 *   - iSulad: its Status ignores `verbose` and returns no info (v1_cri_runtime_runtime_service.cc).
 */

/** info["config"].sandboxImage when it is a non-empty string, else null. */
export function reportedSandboxImage(info: ReadonlyMap<string, string>): string | null {
  const config = info.get('config')
  if (config === undefined) return null
  let parsed: unknown
  try {
    parsed = JSON.parse(config)
  } catch {
    return null
  }
  if (parsed === null || typeof parsed !== 'object') return null
  const image = (parsed as Record<string, unknown>)['sandboxImage']
  return typeof image === 'string' && image !== '' ? image : null
}

/**
 * An image reference in its fully qualified form, the way runtimes resolve it: `pause:3.9` and
 * `docker.io/library/pause:3.9` name the same image, as do a missing tag and `:latest`.
 */
export function normalizeImageReference(reference: string): string {
  const at = reference.indexOf('@')
  const name = at === -1 ? reference : reference.slice(0, at)
  const digest = at === -1 ? '' : reference.slice(at)
  const slash = name.indexOf('/')
  const first = slash === -1 ? '' : name.slice(0, slash)
  // Docker's rule: the first component is a registry only if it looks like a host (a dot, a port, localhost).
  const hasDomain = first.includes('.') || first.includes(':') || first === 'localhost'
  let domain = hasDomain ? first : 'docker.io'
  let path = hasDomain ? name.slice(slash + 1) : name
  if (domain === 'index.docker.io') domain = 'docker.io'
  if (domain === 'docker.io' && !path.includes('/')) path = `library/${path}`
  const lastSegment = path.slice(path.lastIndexOf('/') + 1)
  if (digest === '' && !lastSegment.includes(':')) path += ':latest'
  return `${domain}/${path}${digest}`
}

export function sameImageReference(a: string, b: string): boolean {
  return normalizeImageReference(a) === normalizeImageReference(b)
}
