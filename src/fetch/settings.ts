/** Where a build's inputs come from: the artifact flags (and config file keys), validated. */
export interface ArtifactSettings {
  cacheDir: string
  artifactsDirs: string[]
  mirrors: string[]
  upstream: boolean
  offline: boolean
  checksums: Record<string, string>
  concurrency: number
  pullPause: boolean
  pauseImageArchive: string | undefined
  /** --pull-kubeedge-images: pull the images keadm join asks for (plan.kubeedge.images). */
  pullKubeedgeImages: boolean
  /** --image-archive FILE, repeatable: archives holding images keadm join asks for. */
  imageArchives: string[]
  insecureRegistries: string[]
}
