/**
 * The installer's archive reader: component archives (tar.gz, tar.zst) checked by install.sh's rules and
 * unpacked without tar, so the executable needs nothing on the node but itself (and zstd on a Node
 * without it).
 */
export type { ArchiveFormat } from './decompress.js'
export { ArchiveError, UnsafeArchiveError } from './errors.js'
export { checkTree, extractArchive } from './extract.js'
export type { ArchiveMember } from './rules.js'
export { scanArchive } from './scan.js'
