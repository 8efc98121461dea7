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
  insecureRegistries: string[]
}
