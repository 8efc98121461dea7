/**
 * manifest.json: what a bundle holds, for people and tools that look at a bundle without running it
 * (`edgebundle inspect`, `edgebundle verify`, an operator's audit). plan.json says what the installer does;
 * this says what was built and from what. Plain JSON data; bump MANIFEST_SCHEMA_VERSION on any
 * incompatible change (readers refuse other versions rather than guess).
 *
 * Every path is relative to the bundle's top folder (`edgebundle-<kubeedge>-<os>-<arch>-<runtime>/`) and
 * `/`-separated: `install.sh`, `artifacts/containerd-2.0.5-linux-amd64.tar.gz`, `config/etc/containerd/config.toml`.
 */
import { BUNDLE } from './layout.js'
import type { Target, TargetOptions } from './target.js'

export const MANIFEST_SCHEMA_VERSION = 1

/** One upstream artifact the bundle carries. */
export interface ManifestComponent {
  /** Catalog id, e.g. "containerd", "cni-plugins", "pause-image". */
  id: string
  version: string
  /** Where it came from upstream (for the audit trail; the bundle never downloads). */
  url: string
  /** sha256 (lowercase hex) of `file`, byte-identical to upstream. */
  sha256: string
  /** The bundle-relative path of the artifact: artifacts/…, images/…, packages/… */
  file: string
}

/** The normalized modes a bundle's files have (docs/architecture.md "Determinism"); anything else is not a bundle file. */
export type ManifestFileMode = '0644' | '0755'

export interface ManifestFile {
  path: string
  size: number
  mode: ManifestFileMode
  /** Lowercase hex. */
  sha256: string
}

export interface BundleManifest {
  schemaVersion: typeof MANIFEST_SCHEMA_VERSION
  /** The top folder's name: bundleName(target). */
  name: string
  target: Target
  options: TargetOptions
  components: ManifestComponent[]
  /**
   * Every file of the bundle except manifest.json itself, SHA256SUMS and SHA256SUMS.sig (those are written
   * after this list is complete), sorted by path in byte order. Folders are not listed.
   */
  files: ManifestFile[]
  /** The edgebundle version that built it. */
  edgebundleVersion: string
  /** SOURCE_DATE_EPOCH (seconds) used for every timestamp in the archive. */
  sourceDateEpoch: number
}

/** The files manifest.json's `files` leaves out, as bundle-relative paths. */
export const MANIFEST_EXCLUDED_FILES: readonly string[] = [BUNDLE.manifest, BUNDLE.checksums, BUNDLE.signature]
