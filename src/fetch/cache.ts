/**
 * The artifact cache: content-addressed by SHA-256, shared by every build on the machine.
 *
 *   <cache>/CACHEDIR.TAG                 so backup tools skip it (https://bford.info/cachedir/)
 *   <cache>/blobs/sha256/<hex>           verified artifacts, read-only; the name is the content's hash
 *   <cache>/checksums/<hash of url>.json checksums learned from upstream checksum files, keyed by URL
 *   <cache>/tmp/<hex>.partial            a resumable prefix of blob <hex>, parked for the next attempt
 *   <cache>/tmp/<hex>.<pid>-<rand>.part  that prefix while one process downloads into it
 *   <cache>/tmp/<name>.<pid>-<rand>.tmp  any other write in flight
 *
 * Safe when builds run at once without locks: every write goes to a name unique to the writer, is
 * fsynced, then renamed into place. Two writers of one blob rename identical bytes onto one name, so
 * whichever lands last is as good as the first. A parked partial is claimed by renaming it to a
 * writer's own name, which exactly one claimant wins; the others start a fresh file.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import { publishFile } from '../archive/publish.js'
import { sha256OfFile } from '../io/file-chunks.js'
import { pidAlive } from '../io/process.js'
import { SHA256_PATTERN, SHA512_PATTERN } from './checksum-file.js'

export interface LearnedChecksum {
  /** The upstream checksum file's URL (the key). */
  url: string
  /** The artifact the checksum is for. */
  fileName: string
  sha256: string
  /**
   * When upstream publishes SHA-512 (KubeEdge): the digest read from its checksum file; sha256 is then the
   * hash of the download that matched it, for the cache and later offline builds.
   */
  sha512?: string
  /** Where the checksum file was actually read: a mirror URL, the upstream URL or a local path. */
  learnedFrom: string
}

/** `$XDG_CACHE_HOME/edgebundle`, else `~/.cache/edgebundle`; `%LOCALAPPDATA%\edgebundle\cache` on Windows. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env, home: string = homedir(), platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32' && env.LOCALAPPDATA) return join(env.LOCALAPPDATA, 'edgebundle', 'cache')
  // The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
  const xdg = env.XDG_CACHE_HOME
  if (xdg && isAbsolute(xdg)) return join(xdg, 'edgebundle')
  return join(home, '.cache', 'edgebundle')
}

/**
 * --cache-dir, else EDGEBUNDLE_CACHE_DIR, else the default; always absolute. Executable builds run tools
 * from the cache (its Node) in a work folder of their own, where a relative path would name nothing.
 */
export function resolveCacheDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag !== undefined && flag !== '') return resolve(flag)
  if (env.EDGEBUNDLE_CACHE_DIR) return resolve(env.EDGEBUNDLE_CACHE_DIR)
  return defaultCacheDir(env)
}

/** Streams a file through SHA-256. */
export const hashFile = sha256OfFile

const CACHEDIR_TAG =
  'Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by edgebundle.\n# For information about cache directory tags see https://bford.info/cachedir/\n'

/** A writer that has been silent this long is dead whatever its pid says (a shared cache on another host). */
const ABANDONED_MS = 60 * 60 * 1000
/** A dead pid's file younger than this may be another host's live writer: leave it. */
const SETTLE_MS = 60 * 1000

const isCode = (error: unknown, ...codes: string[]) => codes.includes((error as NodeJS.ErrnoException)?.code ?? '')

export class ArtifactCache {
  readonly root: string
  readonly blobsDir: string
  readonly checksumsDir: string
  readonly tmpDir: string

  private constructor(root: string) {
    this.root = root
    this.blobsDir = join(root, 'blobs', 'sha256')
    this.checksumsDir = join(root, 'checksums')
    this.tmpDir = join(root, 'tmp')
  }

  /** Opens (creating) the cache for writing, and recovers what crashed writers left in tmp/. */
  static async open(root: string): Promise<ArtifactCache> {
    const cache = new ArtifactCache(root)
    await mkdir(cache.blobsDir, { recursive: true })
    await mkdir(cache.checksumsDir, { recursive: true })
    await mkdir(cache.tmpDir, { recursive: true })
    await writeFile(join(root, 'CACHEDIR.TAG'), CACHEDIR_TAG, { flag: 'wx' }).catch((error: unknown) => {
      if (!isCode(error, 'EEXIST')) throw error
    })
    await cache.sweep()
    return cache
  }

  /** A view for lookups only (--print-urls): creates nothing, and a missing cache is simply empty. */
  static readOnly(root: string): ArtifactCache {
    return new ArtifactCache(root)
  }

  blobPath(sha256: string): string {
    if (!SHA256_PATTERN.test(sha256)) throw new Error(`internal: not a sha256: ${sha256}`)
    return join(this.blobsDir, sha256)
  }

  async hasBlob(sha256: string): Promise<boolean> {
    try {
      return (await stat(this.blobPath(sha256))).isFile()
    } catch (error) {
      if (isCode(error, 'ENOENT', 'ENOTDIR')) return false
      throw error
    }
  }

  /** Removes a blob found corrupt, so the next source replaces it. */
  async evict(sha256: string): Promise<void> {
    await unlink(this.blobPath(sha256)).catch((error: unknown) => {
      if (!isCode(error, 'ENOENT')) throw error
    })
  }

  private uniqueName(prefix: string, suffix: string): string {
    return join(this.tmpDir, `${prefix}.${process.pid}-${randomBytes(6).toString('hex')}.${suffix}`)
  }

  /** A new empty file in tmp/ for a write whose result gets committed or discarded. */
  async tempFile(label: string): Promise<string> {
    const path = this.uniqueName(label.replace(/[^A-Za-z0-9._-]/g, '_'), 'tmp')
    await writeFile(path, '', { flag: 'wx' })
    return path
  }

  /**
   * A file of this process's own to download blob `sha256` into. It starts with the parked partial of
   * an earlier attempt when there is one (the caller hashes that prefix and resumes after it).
   */
  async claimPartial(sha256: string): Promise<string> {
    const mine = this.uniqueName(sha256, 'part')
    try {
      await rename(join(this.tmpDir, `${sha256}.partial`), mine)
    } catch (error) {
      if (!isCode(error, 'ENOENT')) throw error
      await writeFile(mine, '', { flag: 'wx' })
    }
    return mine
  }

  /** Parks what was downloaded so far for a later resume; an empty file is just removed. */
  async releasePartial(sha256: string, path: string): Promise<void> {
    try {
      const { size } = await stat(path)
      // Replacing a partial another process parked meanwhile is fine: both are prefixes of the same
      // content as far as anyone knows, and the final hash decides.
      if (size > 0) await rename(path, join(this.tmpDir, `${sha256}.partial`))
      else await unlink(path)
    } catch (error) {
      if (!isCode(error, 'ENOENT')) throw error
    }
  }

  async discard(path: string): Promise<void> {
    await unlink(path).catch((error: unknown) => {
      if (!isCode(error, 'ENOENT')) throw error
    })
  }

  /** fsync, make read-only, rename into blobs/. The caller has verified that the file hashes to `sha256`. */
  async commit(path: string, sha256: string): Promise<string> {
    const target = this.blobPath(sha256)
    // Read-only so that a stray write through a path handed to a later step cannot corrupt the cache.
    // Where Windows refuses to rename onto the existing blob, another build committed the same bytes first.
    await publishFile(path, target, { mode: 0o444, existingIsAsGood: () => this.hasBlob(sha256) })
    return target
  }

  private checksumEntryPath(url: string): string {
    return join(this.checksumsDir, `${createHash('sha256').update(url).digest('hex')}.json`)
  }

  /** A checksum learned earlier from the checksum file at `url`, or null. */
  async learnedChecksum(url: string, fileName: string): Promise<LearnedChecksum | null> {
    let text: string
    try {
      text = await readFile(this.checksumEntryPath(url), 'utf8')
    } catch (error) {
      if (isCode(error, 'ENOENT', 'ENOTDIR')) return null
      throw error
    }
    try {
      const entry = JSON.parse(text) as Partial<LearnedChecksum>
      // The key is a hash of the URL: check the entry really is this URL's and this file's.
      if (entry.url === url && entry.fileName === fileName && typeof entry.sha256 === 'string' && SHA256_PATTERN.test(entry.sha256)) {
        const sha512 = typeof entry.sha512 === 'string' && SHA512_PATTERN.test(entry.sha512) ? { sha512: entry.sha512 } : {}
        return { url, fileName, sha256: entry.sha256, ...sha512, learnedFrom: String(entry.learnedFrom ?? url) }
      }
    } catch {
      // A torn or hand-edited entry is treated as absent; learning again rewrites it.
    }
    return null
  }

  /** One file per URL, written atomically: concurrent builds never lose each other's entries. */
  async recordChecksum(entry: LearnedChecksum): Promise<void> {
    const temp = await this.tempFile('checksum')
    try {
      await writeFile(temp, `${JSON.stringify(entry, null, 2)}\n`)
      await publishFile(temp, this.checksumEntryPath(entry.url))
    } catch (error) {
      await this.discard(temp)
      throw error
    }
  }

  /**
   * Recovers tmp/ after writers that died (killed build, power loss): a dead writer's download prefix is
   * parked for resume, anything else it left is removed. Live writers' files are left alone.
   */
  private async sweep(): Promise<void> {
    const now = Date.now()
    for (const name of await readdir(this.tmpDir)) {
      const match = /^(.+)\.(\d+)-[0-9a-f]+\.(part|tmp)$/.exec(name)
      if (!match) continue
      const path = join(this.tmpDir, name)
      let age: number
      try {
        age = now - (await stat(path)).mtimeMs
      } catch {
        continue // another sweeper got it
      }
      const pid = Number(match[2])
      const abandoned = age > ABANDONED_MS || (age > SETTLE_MS && pid !== process.pid && !pidAlive(pid))
      if (!abandoned) continue
      const sha = match[1]!
      if (match[3] === 'part' && SHA256_PATTERN.test(sha)) await this.releasePartial(sha, path)
      else await this.discard(path)
    }
  }
}
