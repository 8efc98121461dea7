/** Public surface of the image code: pull an image into an OCI archive, or inspect an archive a user gives. */
export { pullImage, type PullOptions, type PullProgress, type PullResult } from './pull.js'
export { readImageArchive, findArchiveImage, type ArchiveImage, type ImageArchiveInfo } from './archive.js'
export { IntegrityError, RegistryError } from './errors.js'
export { formatPlatform, validateTargetPlatform, type ImagePlatform, type TargetPlatform } from './platform.js'
export { resolveEndpoint, allowsPlainHttp, isLoopbackHost, type RegistryEndpoint } from './registry.js'
