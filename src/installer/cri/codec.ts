/**
 * A small protobuf wire codec for the CRI messages in cri.proto: written by hand so the installer carries
 * no protobuf library (protobufjs and a .proto parser would cost start-up time and bundle size for six
 * flat messages). It covers what those messages need (varints, length-delimited strings, bools, nested
 * messages, map<string, string>) and skips every field it does not know, of any wire type, so newer
 * runtimes that add fields decode unchanged.
 *
 * Proto3 rules followed: scalars at their default value are not written; a singular scalar field read
 * twice keeps the last value; a singular nested message read twice is merged (its chunks are decoded as
 * one); a field whose wire type does not match the schema is skipped as unknown.
 */

/** The wire types of the protobuf encoding. */
export const WIRE = { varint: 0, fixed64: 1, len: 2, startGroup: 3, endGroup: 4, fixed32: 5 } as const

/** The bytes are not a valid protobuf encoding (truncated, an overlong varint, a bad tag). */
export class ProtobufDecodeError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ProtobufDecodeError'
  }
}

// ---------------------------------------------------------------------------------------------- writing

/** Builds one message; fields are appended in call order. */
export class ProtoWriter {
  private readonly bytes: number[] = []

  /** A non-negative integer as a varint (exact up to 2^53, which covers every value the CRI check writes). */
  varint(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`varint out of range: ${value}`)
    // Division rather than >>> so values past 2^32 stay exact.
    while (value > 0x7f) {
      this.bytes.push((value % 0x80) | 0x80)
      value = Math.floor(value / 0x80)
    }
    this.bytes.push(value)
    return this
  }

  tag(field: number, wireType: number): this {
    if (!Number.isInteger(field) || field < 1 || field > 0x1fffffff) throw new RangeError(`field number out of range: ${field}`)
    return this.varint(field * 8 + wireType)
  }

  /** A length-delimited field holding raw bytes (a nested message's encoding, a string's UTF-8). */
  lengthDelimited(field: number, payload: Uint8Array): this {
    this.tag(field, WIRE.len).varint(payload.length)
    for (const byte of payload) this.bytes.push(byte)
    return this
  }

  /** A string field; the empty string is the default and is not written. */
  string(field: number, value: string): this {
    return value === '' ? this : this.lengthDelimited(field, Buffer.from(value, 'utf8'))
  }

  /** Each element of a repeated string field, empty ones included (repeated fields have no default). */
  strings(field: number, values: readonly string[]): this {
    for (const value of values) this.lengthDelimited(field, Buffer.from(value, 'utf8'))
    return this
  }

  /** A bool field; false is the default and is not written. */
  bool(field: number, value: boolean): this {
    return value ? this.tag(field, WIRE.varint).varint(1) : this
  }

  /** A nested message field. Written even when empty: for messages, presence itself is information. */
  message(field: number, encoded: Uint8Array): this {
    return this.lengthDelimited(field, encoded)
  }

  /** A map<string, string> field: one entry message {key = 1, value = 2} per key, in sorted order for stable bytes. */
  stringMap(field: number, map: ReadonlyMap<string, string>): this {
    for (const key of [...map.keys()].sort()) {
      this.message(field, new ProtoWriter().string(1, key).string(2, map.get(key)!).finish())
    }
    return this
  }

  finish(): Buffer {
    return Buffer.from(this.bytes)
  }
}

// ---------------------------------------------------------------------------------------------- reading

/** One field as read from the wire: a varint's value, or the bytes of any other wire type. */
export type WireField =
  | { field: number; wireType: typeof WIRE.varint; value: number }
  | { field: number; wireType: typeof WIRE.len | typeof WIRE.fixed32 | typeof WIRE.fixed64 | typeof WIRE.startGroup; bytes: Uint8Array }

const utf8 = new TextDecoder('utf-8')

/** Reads a varint at `offset`; returns its value (exact up to 2^53) and the offset after it. */
function readVarint(buf: Uint8Array, offset: number): [number, number] {
  let value = 0
  let scale = 1
  for (let i = 0; i < 10; i++) {
    const byte = buf[offset + i]
    if (byte === undefined) throw new ProtobufDecodeError(`truncated varint at byte ${offset}`)
    value += (byte & 0x7f) * scale
    scale *= 0x80
    if ((byte & 0x80) === 0) return [value, offset + i + 1]
  }
  throw new ProtobufDecodeError(`varint longer than 10 bytes at byte ${offset}`)
}

function take(buf: Uint8Array, offset: number, length: number, what: string): Uint8Array {
  if (offset + length > buf.length) throw new ProtobufDecodeError(`truncated ${what} at byte ${offset}: needs ${length} bytes, ${buf.length - offset} left`)
  return buf.subarray(offset, offset + length)
}

/** The offset just past the end-group tag that closes the group `field` whose contents start at `offset`. */
function skipGroup(buf: Uint8Array, offset: number, field: number, depth: number): number {
  // Groups (proto2's deprecated wire types 3/4) only need to be stepped over; the depth bound keeps a
  // hostile nesting from exhausting the stack.
  if (depth > 64) throw new ProtobufDecodeError('groups nested too deeply')
  while (offset < buf.length) {
    const [key, next] = readVarint(buf, offset)
    const wireType = key & 7
    const number = Math.floor(key / 8)
    if (wireType === WIRE.endGroup) {
      if (number !== field) throw new ProtobufDecodeError(`end of group ${number} inside group ${field}`)
      return next
    }
    offset = skipValue(buf, next, wireType, number, depth + 1)
  }
  throw new ProtobufDecodeError(`group ${field} is not closed`)
}

function skipValue(buf: Uint8Array, offset: number, wireType: number, field: number, depth: number): number {
  switch (wireType) {
    case WIRE.varint:
      return readVarint(buf, offset)[1]
    case WIRE.fixed64:
      return offset + take(buf, offset, 8, 'fixed64').length
    case WIRE.fixed32:
      return offset + take(buf, offset, 4, 'fixed32').length
    case WIRE.len: {
      const [length, start] = readVarint(buf, offset)
      return start + take(buf, start, length, 'length-delimited field').length
    }
    case WIRE.startGroup:
      return skipGroup(buf, offset, field, depth)
    default:
      throw new ProtobufDecodeError(`wire type ${wireType} of field ${field} is not valid`)
  }
}

/** Every field of one message, in wire order. Throws ProtobufDecodeError on malformed input. */
export function* readFields(buf: Uint8Array): Generator<WireField> {
  let offset = 0
  while (offset < buf.length) {
    const [key, next] = readVarint(buf, offset)
    const wireType = key & 7
    const field = Math.floor(key / 8)
    if (field === 0) throw new ProtobufDecodeError(`field number 0 at byte ${offset}`)
    if (wireType === WIRE.varint) {
      const [value, after] = readVarint(buf, next)
      yield { field, wireType, value }
      offset = after
    } else if (wireType === WIRE.len) {
      const [length, start] = readVarint(buf, next)
      yield { field, wireType, bytes: take(buf, start, length, 'length-delimited field') }
      offset = start + length
    } else if (wireType === WIRE.fixed32 || wireType === WIRE.fixed64 || wireType === WIRE.startGroup) {
      const after = skipValue(buf, next, wireType, field, 0)
      yield { field, wireType, bytes: buf.subarray(next, after) }
      offset = after
    } else {
      // An end-group tag here has no group to close; 6 and 7 are not wire types at all.
      throw new ProtobufDecodeError(`wire type ${wireType} of field ${field} at byte ${offset} is not valid here`)
    }
  }
}

/** The field's string value, or null when the wire type is not length-delimited (then it is skipped as unknown). */
function asString(f: WireField): string | null {
  return f.wireType === WIRE.len ? utf8.decode(f.bytes) : null
}

function asBool(f: WireField): boolean | null {
  return f.wireType === WIRE.varint ? f.value !== 0 : null
}

function asBytes(f: WireField): Uint8Array | null {
  return f.wireType === WIRE.len ? f.bytes : null
}

/** Concatenates the chunks of a singular message field seen more than once (proto merge semantics). */
function merged(chunks: Uint8Array[]): Uint8Array | null {
  if (chunks.length === 0) return null
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
}

/** One map<string, string> entry into `map`; a missing key or value is the empty string, a repeated key keeps the last. */
function readMapEntry(bytes: Uint8Array, map: Map<string, string>): void {
  let key = ''
  let value = ''
  for (const f of readFields(bytes)) {
    if (f.field === 1) key = asString(f) ?? key
    else if (f.field === 2) value = asString(f) ?? value
  }
  map.set(key, value)
}

// --------------------------------------------------------------------------------------------- messages

export interface VersionRequest {
  version: string
}

export interface VersionResponse {
  version: string
  runtimeName: string
  runtimeVersion: string
  runtimeApiVersion: string
}

export interface StatusRequest {
  verbose: boolean
}

export interface RuntimeCondition {
  type: string
  status: boolean
  reason: string
  message: string
}

export interface StatusResponse {
  /** null when the runtime sent no status message at all. */
  status: { conditions: RuntimeCondition[] } | null
  info: Map<string, string>
}

export interface ImageSpec {
  image: string
}

export interface ImageStatusRequest {
  image: ImageSpec | null
  verbose: boolean
}

export interface Image {
  id: string
  repoTags: string[]
  repoDigests: string[]
}

export interface ImageStatusResponse {
  /** null when the runtime does not hold the image. */
  image: Image | null
  info: Map<string, string>
}

export function encodeVersionRequest(m: VersionRequest): Buffer {
  return new ProtoWriter().string(1, m.version).finish()
}

export function decodeVersionRequest(buf: Uint8Array): VersionRequest {
  const m: VersionRequest = { version: '' }
  for (const f of readFields(buf)) if (f.field === 1) m.version = asString(f) ?? m.version
  return m
}

export function encodeVersionResponse(m: VersionResponse): Buffer {
  return new ProtoWriter().string(1, m.version).string(2, m.runtimeName).string(3, m.runtimeVersion).string(4, m.runtimeApiVersion).finish()
}

export function decodeVersionResponse(buf: Uint8Array): VersionResponse {
  const m: VersionResponse = { version: '', runtimeName: '', runtimeVersion: '', runtimeApiVersion: '' }
  for (const f of readFields(buf)) {
    switch (f.field) {
      case 1:
        m.version = asString(f) ?? m.version
        break
      case 2:
        m.runtimeName = asString(f) ?? m.runtimeName
        break
      case 3:
        m.runtimeVersion = asString(f) ?? m.runtimeVersion
        break
      case 4:
        m.runtimeApiVersion = asString(f) ?? m.runtimeApiVersion
        break
    }
  }
  return m
}

export function encodeStatusRequest(m: StatusRequest): Buffer {
  return new ProtoWriter().bool(1, m.verbose).finish()
}

export function decodeStatusRequest(buf: Uint8Array): StatusRequest {
  const m: StatusRequest = { verbose: false }
  for (const f of readFields(buf)) if (f.field === 1) m.verbose = asBool(f) ?? m.verbose
  return m
}

function encodeCondition(c: RuntimeCondition): Buffer {
  return new ProtoWriter().string(1, c.type).bool(2, c.status).string(3, c.reason).string(4, c.message).finish()
}

function decodeCondition(buf: Uint8Array): RuntimeCondition {
  const c: RuntimeCondition = { type: '', status: false, reason: '', message: '' }
  for (const f of readFields(buf)) {
    switch (f.field) {
      case 1:
        c.type = asString(f) ?? c.type
        break
      case 2:
        c.status = asBool(f) ?? c.status
        break
      case 3:
        c.reason = asString(f) ?? c.reason
        break
      case 4:
        c.message = asString(f) ?? c.message
        break
    }
  }
  return c
}

export function encodeStatusResponse(m: StatusResponse): Buffer {
  const w = new ProtoWriter()
  if (m.status !== null) {
    const status = new ProtoWriter()
    for (const c of m.status.conditions) status.message(1, encodeCondition(c))
    w.message(1, status.finish())
  }
  return w.stringMap(2, m.info).finish()
}

export function decodeStatusResponse(buf: Uint8Array): StatusResponse {
  const statusChunks: Uint8Array[] = []
  const info = new Map<string, string>()
  for (const f of readFields(buf)) {
    const bytes = asBytes(f)
    if (bytes === null) continue
    if (f.field === 1) statusChunks.push(bytes)
    else if (f.field === 2) readMapEntry(bytes, info)
  }
  const status = merged(statusChunks)
  if (status === null) return { status: null, info }
  const conditions: RuntimeCondition[] = []
  for (const f of readFields(status)) {
    const bytes = f.field === 1 ? asBytes(f) : null
    if (bytes !== null) conditions.push(decodeCondition(bytes))
  }
  return { status: { conditions }, info }
}

export function encodeImageStatusRequest(m: ImageStatusRequest): Buffer {
  const w = new ProtoWriter()
  if (m.image !== null) w.message(1, new ProtoWriter().string(1, m.image.image).finish())
  return w.bool(2, m.verbose).finish()
}

export function decodeImageStatusRequest(buf: Uint8Array): ImageStatusRequest {
  const specChunks: Uint8Array[] = []
  let verbose = false
  for (const f of readFields(buf)) {
    if (f.field === 1) {
      const bytes = asBytes(f)
      if (bytes !== null) specChunks.push(bytes)
    } else if (f.field === 2) verbose = asBool(f) ?? verbose
  }
  const spec = merged(specChunks)
  let image: ImageSpec | null = null
  if (spec !== null) {
    image = { image: '' }
    for (const f of readFields(spec)) if (f.field === 1) image.image = asString(f) ?? image.image
  }
  return { image, verbose }
}

export function encodeImageStatusResponse(m: ImageStatusResponse): Buffer {
  const w = new ProtoWriter()
  if (m.image !== null) {
    w.message(1, new ProtoWriter().string(1, m.image.id).strings(2, m.image.repoTags).strings(3, m.image.repoDigests).finish())
  }
  return w.stringMap(2, m.info).finish()
}

export function decodeImageStatusResponse(buf: Uint8Array): ImageStatusResponse {
  const imageChunks: Uint8Array[] = []
  const info = new Map<string, string>()
  for (const f of readFields(buf)) {
    const bytes = asBytes(f)
    if (bytes === null) continue
    if (f.field === 1) imageChunks.push(bytes)
    else if (f.field === 2) readMapEntry(bytes, info)
  }
  const chunk = merged(imageChunks)
  if (chunk === null) return { image: null, info }
  const image: Image = { id: '', repoTags: [], repoDigests: [] }
  for (const f of readFields(chunk)) {
    const value = asString(f)
    if (value === null) continue
    if (f.field === 1) image.id = value
    else if (f.field === 2) image.repoTags.push(value)
    else if (f.field === 3) image.repoDigests.push(value)
  }
  return { image, info }
}

// ------------------------------------------------------------------------------------------ pod sandboxes
// RunPodSandbox, PodSandboxStatus, StopPodSandbox and RemovePodSandbox: the installer itself does not
// start pods, but its end-to-end tests do, on the runtime a bundle installed, with the same codec.

export interface PodSandboxMetadata {
  name: string
  uid: string
  namespace: string
  attempt: number
}

export interface PodSandboxConfig {
  metadata: PodSandboxMetadata
  hostname: string
  logDirectory: string
  labels: Map<string, string>
}

export interface RunPodSandboxRequest {
  config: PodSandboxConfig
  /** Empty: the runtime's default handler. */
  runtimeHandler: string
}

export interface RunPodSandboxResponse {
  podSandboxId: string
}

/** For PodSandboxStatus, StopPodSandbox and RemovePodSandbox, whose requests name one sandbox. */
export interface PodSandboxIdRequest {
  podSandboxId: string
  /** PodSandboxStatus only: ask for `info`. */
  verbose?: boolean
}

/** PodSandboxState: SANDBOX_READY = 0 (the default, so absent on the wire), SANDBOX_NOTREADY = 1. */
export const SANDBOX_STATE = { ready: 0, notReady: 1 } as const

export interface PodSandboxStatus {
  id: string
  metadata: PodSandboxMetadata | null
  state: number
  network: { ip: string; additionalIps: string[] } | null
}

export interface PodSandboxStatusResponse {
  status: PodSandboxStatus | null
  info: Map<string, string>
}

function encodeMetadata(m: PodSandboxMetadata): Buffer {
  const w = new ProtoWriter().string(1, m.name).string(2, m.uid).string(3, m.namespace)
  if (m.attempt !== 0) w.tag(4, WIRE.varint).varint(m.attempt)
  return w.finish()
}

function decodeMetadata(buf: Uint8Array): PodSandboxMetadata {
  const m: PodSandboxMetadata = { name: '', uid: '', namespace: '', attempt: 0 }
  for (const f of readFields(buf)) {
    if (f.field === 4) m.attempt = f.wireType === WIRE.varint ? f.value : m.attempt
    else if (f.field === 1) m.name = asString(f) ?? m.name
    else if (f.field === 2) m.uid = asString(f) ?? m.uid
    else if (f.field === 3) m.namespace = asString(f) ?? m.namespace
  }
  return m
}

export function encodeRunPodSandboxRequest(m: RunPodSandboxRequest): Buffer {
  const config = new ProtoWriter()
    .message(1, encodeMetadata(m.config.metadata))
    .string(2, m.config.hostname)
    .string(3, m.config.logDirectory)
    .stringMap(6, m.config.labels)
    .finish()
  return new ProtoWriter().message(1, config).string(2, m.runtimeHandler).finish()
}

export function decodeRunPodSandboxResponse(buf: Uint8Array): RunPodSandboxResponse {
  const m: RunPodSandboxResponse = { podSandboxId: '' }
  for (const f of readFields(buf)) if (f.field === 1) m.podSandboxId = asString(f) ?? m.podSandboxId
  return m
}

export function encodePodSandboxIdRequest(m: PodSandboxIdRequest): Buffer {
  return new ProtoWriter().string(1, m.podSandboxId).bool(2, m.verbose ?? false).finish()
}

/** Stop and Remove answer an empty message; anything in it is skipped like any unknown field. */
export function decodeEmptyResponse(buf: Uint8Array): Record<string, never> {
  for (const _ of readFields(buf)) {
    // validated, then ignored
  }
  return {}
}

function decodeSandboxNetwork(buf: Uint8Array): { ip: string; additionalIps: string[] } {
  const network = { ip: '', additionalIps: [] as string[] }
  for (const f of readFields(buf)) {
    if (f.field === 1) network.ip = asString(f) ?? network.ip
    else if (f.field === 2) {
      const bytes = asBytes(f)
      if (bytes === null) continue
      // PodIP { string ip = 1 }
      for (const g of readFields(bytes)) if (g.field === 1) network.additionalIps.push(asString(g) ?? '')
    }
  }
  return network
}

export function decodePodSandboxStatusResponse(buf: Uint8Array): PodSandboxStatusResponse {
  const statusChunks: Uint8Array[] = []
  const info = new Map<string, string>()
  for (const f of readFields(buf)) {
    const bytes = asBytes(f)
    if (bytes === null) continue
    if (f.field === 1) statusChunks.push(bytes)
    else if (f.field === 2) readMapEntry(bytes, info)
  }
  const chunk = merged(statusChunks)
  if (chunk === null) return { status: null, info }
  const status: PodSandboxStatus = { id: '', metadata: null, state: SANDBOX_STATE.ready, network: null }
  const metadataChunks: Uint8Array[] = []
  const networkChunks: Uint8Array[] = []
  for (const f of readFields(chunk)) {
    if (f.field === 3) {
      if (f.wireType === WIRE.varint) status.state = f.value
      continue
    }
    const bytes = asBytes(f)
    if (bytes === null) continue
    if (f.field === 1) status.id = utf8.decode(bytes)
    else if (f.field === 2) metadataChunks.push(bytes)
    else if (f.field === 5) networkChunks.push(bytes)
  }
  const metadata = merged(metadataChunks)
  if (metadata !== null) status.metadata = decodeMetadata(metadata)
  const network = merged(networkChunks)
  if (network !== null) status.network = decodeSandboxNetwork(network)
  return { status, info }
}
