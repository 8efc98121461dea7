/** Reading built bundles: the public surface of src/inspect. */
export { formatInspect, formatSignature, formatVerify } from './format.js'
export { type PlanSummary, type ReadManifest } from './documents.js'
export { ArchiveCorruptError, BundleVerificationError } from './errors.js'
export {
  type BundleArchiveFormat,
  type BundleProblem,
  type BundleProblemKind,
  type BundleReport,
  type InspectOptions,
  type InspectedFile,
  type SignatureStatus,
  inspectBundle,
  parseBundleName,
} from './inspect.js'
