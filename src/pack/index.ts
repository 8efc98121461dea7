/** Archive writing: the public surface of src/pack. */
export { type PackResult, type WriteArchiveOptions, writeBundleArchive } from './archive.js'
export { type ArchiveFormat, type PackEntry, type PackMode } from './entries.js'
export { PackError } from './errors.js'
export { entriesFromFolder } from './folder.js'
export { type GzipOptions, type GzipStats, MEMBER_SIZE } from './gzip.js'
export { CorruptMemberEntryError, GzipMemberCache } from './member-cache.js'
