/**
 * A stand-in powershell.exe for running the Windows installer under wine. The installer asks PowerShell
 * whether it runs as Administrator (preflight, before any real install); wine's powershell.exe is a stub
 * that prints nothing, so the answer is "cannot tell" and the install stops with exit 4. This stand-in
 * answers that one question "True" (wine gives every program full rights, as an Administrator has) and
 * fails every other script, which the installer treats as "PowerShell did not answer" (a warning).
 *
 * It is the win-x64 install.exe the test runs, with its SEA blob swapped for one holding the script below
 * (made by the same makeBlob): the same Node, the fuse already set, and no postject run over 80 MB, which
 * costs ~20 CPU-s. Node finds its blob as the NODE_SEA_BLOB resource, by the size that resource's data
 * entry gives, so a smaller blob written over the installer's, with that size set, is all it takes.
 */
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { PS_IS_ADMINISTRATOR } from '../../src/installer/preflight.js'
import { obtainNodeRuntime } from '../../src/sea/node-runtime.js'
import { loadNodeRuntimes } from '../../src/sea/runtimes.js'
import { SEA_RESOURCE, makeBlob } from '../../src/sea/sea.js'
import { SEA_TEST_CACHE, Wine, installerFor } from '../sea/fixtures.js'

const SCRIPT = `'use strict'
// -EncodedCommand carries the script as base64 of UTF-16LE.
const args = process.argv.slice(2)
const at = args.findIndex((arg) => arg.toLowerCase() === '-encodedcommand')
const script = at === -1 ? '' : Buffer.from(args[at + 1] || '', 'base64').toString('utf16le')
if (script.trim() === ${JSON.stringify(PS_IS_ADMINISTRATOR)}) process.stdout.write('True\\r\\n')
else process.exitCode = 1
`

/** RT_RCDATA, the resource type postject stores the SEA blob under. */
const RT_RCDATA = 10

/** Writes the stand-in to `target`: a copy of the cached win-x64 install.exe with the stand-in's blob. */
async function writeStandIn(t: Test, target: string): Promise<void> {
  const installer = await installerFor(t, 'windows/amd64')
  if (installer === null) throw new Error('the win-x64 installer executable is needed for the powershell.exe stand-in')
  const builder = await obtainNodeRuntime('linux/amd64', {
    cacheDir: SEA_TEST_CACHE,
    runtimes: loadNodeRuntimes(),
    offline: true,
    registry: () => Promise.reject(new Error('the Node packages must be in the test cache (installerFor warms it)')),
  })
  const work = mkdtempSync(join(tmpdir(), 'eb-ps-blob-'))
  try {
    const blob = await makeBlob({ node: builder.path, workDir: work, script: SCRIPT })
    copyFileSync(installer.path, target)
    replaceSeaBlob(target, readFileSync(blob.path))
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/**
 * Overwrites the NODE_SEA_BLOB resource of the PE32+ file at `path` with `blob`, and sets its data
 * entry's size. The resource tree is type → name → language → data entry (PE format, ".rsrc Section").
 */
function replaceSeaBlob(path: string, blob: Buffer): void {
  const fd = openSync(path, 'r+')
  try {
    const read = (offset: number, length: number) => {
      const buffer = Buffer.alloc(length)
      if (readSync(fd, buffer, 0, length, offset) !== length) throw new Error(`${path}: ends before byte ${offset + length}`)
      return buffer
    }
    const headers = read(0, 4096)
    const pe = headers.readUInt32LE(0x3c)
    if (headers.readUInt32LE(pe) !== 0x4550) throw new Error(`${path}: no PE signature`)
    const sectionCount = headers.readUInt16LE(pe + 6)
    const optional = pe + 24
    if (headers.readUInt16LE(optional) !== 0x20b) throw new Error(`${path}: not PE32+`)
    const resourceRva = headers.readUInt32LE(optional + 112 + 2 * 8) // data directory 2: resources
    const sectionTable = optional + headers.readUInt16LE(pe + 20)
    const section = Array.from({ length: sectionCount }, (_, i) => sectionTable + i * 40)
      .map((at) => ({ rva: headers.readUInt32LE(at + 12), size: headers.readUInt32LE(at + 16), raw: headers.readUInt32LE(at + 20) }))
      .find((s) => resourceRva >= s.rva && resourceRva < s.rva + s.size)
    if (section === undefined) throw new Error(`${path}: no section holds the resource directory`)
    const rsrc = read(section.raw, section.size)
    const at = resourceRva - section.rva
    const child = (directory: number, matches: (name: number) => boolean): number => {
      const count = rsrc.readUInt16LE(directory + 12) + rsrc.readUInt16LE(directory + 14)
      for (let i = 0; i < count; i++) {
        const entry = directory + 16 + i * 8
        if (matches(rsrc.readUInt32LE(entry))) return rsrc.readUInt32LE(entry + 4)
      }
      throw new Error(`${path}: no ${SEA_RESOURCE} resource`)
    }
    const named = (name: number) => {
      if ((name & 0x80000000) === 0) return false
      const string = at + (name & 0x7fffffff)
      return rsrc.toString('utf16le', string + 2, string + 2 + 2 * rsrc.readUInt16LE(string)) === SEA_RESOURCE
    }
    const subdirectory = (offset: number) => {
      if ((offset & 0x80000000) === 0) throw new Error(`${path}: a data entry where the resource tree has a directory`)
      return at + (offset & 0x7fffffff)
    }
    const names = subdirectory(child(at, (id) => id === RT_RCDATA))
    const languages = subdirectory(child(names, named))
    const dataEntry = at + child(languages, () => true)
    const dataAt = rsrc.readUInt32LE(dataEntry) - section.rva
    const room = rsrc.readUInt32LE(dataEntry + 4)
    if (blob.length > room || dataAt < 0 || dataAt + room > section.size) throw new Error(`${path}: a ${blob.length}-byte blob does not fit the ${room} bytes of the one there`)
    writeSync(fd, Buffer.concat([blob, Buffer.alloc(room - blob.length)]), 0, room, section.raw + dataAt)
    const size = Buffer.alloc(4)
    size.writeUInt32LE(blob.length)
    writeSync(fd, size, 0, 4, section.raw + dataEntry + 4)
  } finally {
    closeSync(fd)
  }
}

/**
 * A fresh wine prefix to run install.exe in, and a working folder holding the powershell.exe stand-in
 * (Windows finds a program in the working folder first). Both go with the test: wineserver keeps its socket
 * folder in /tmp/wine-XXXXXX/server-<dev>-<inode of the prefix>, which outlives the prefix, so it is found
 * now, while the prefix can still be looked up, and removed at teardown.
 */
export async function wineWithStandIn(t: Test, work: string): Promise<{ wine: Wine; cwd: string }> {
  const cwd = join(work, 'cwd')
  mkdirSync(cwd)
  await writeStandIn(t, join(cwd, 'powershell.exe'))
  const wine = await Wine.create()
  const { dev, ino } = statSync(wine.prefix, { bigint: true })
  const serverDir = `server-${dev.toString(16)}-${ino.toString(16)}`
  t.teardown(() => {
    wine.close()
    for (const name of readdirSync(tmpdir()).filter((n) => n.startsWith('wine-'))) {
      const parent = join(tmpdir(), name)
      if (!existsSync(join(parent, serverDir))) continue
      rmSync(join(parent, serverDir), { recursive: true, force: true })
      if (readdirSync(parent).length === 0) rmSync(parent, { recursive: true, force: true })
    }
  })
  return { wine, cwd }
}
