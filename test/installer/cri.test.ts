/**
 * The runtime check over CRI: the hand-written protobuf codec (round trips, hand-assembled bytes with
 * unknown fields of every wire type, malformed input), the sandbox-image rules, endpoint parsing, the
 * client against fake runtimes (grpc-js servers on Unix sockets in a temp folder) and against a real
 * containerd started here with a temp config. Nothing listens on or dials anything but Unix sockets in
 * temp folders (containerd's CRI streaming server binds 127.0.0.1).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { closeSync, existsSync, linkSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import t, { type Test } from 'tap'
import {
  type ImageStatusRequest,
  type ImageStatusResponse,
  ProtoWriter,
  ProtobufDecodeError,
  type StatusRequest,
  type StatusResponse,
  type VersionRequest,
  type VersionResponse,
  WIRE,
  decodeImageStatusRequest,
  decodeImageStatusResponse,
  decodeStatusRequest,
  decodeStatusResponse,
  decodeVersionRequest,
  decodeVersionResponse,
  encodeImageStatusRequest,
  encodeImageStatusResponse,
  encodeStatusRequest,
  encodeStatusResponse,
  encodeVersionRequest,
  encodeVersionResponse,
  readFields,
} from '../../src/installer/cri/codec.js'
import { CRI_METHODS, type CriCheckResult, type CriRuntimeReport, checkRuntimeOverCri, parseCriEndpoint } from '../../src/installer/cri/client.js'
import { CriCallError, CriEndpointError, CriUnavailableError } from '../../src/installer/cri/errors.js'
import { normalizeImageReference, reportedSandboxImage, sameImageReference } from '../../src/installer/cri/sandbox-image.js'

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')
const bytes = (...parts: (number | string | Uint8Array)[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))))
/** A length-delimited field by hand: tag, one-byte length, payload. */
const len = (field: number, payload: Uint8Array | string) => {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload)
  if (body.length > 127) throw new Error('test helper: one-byte lengths only')
  return bytes((field << 3) | WIRE.len, body.length, body)
}

function tempDir(t: Test, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function checked(result: CriCheckResult): CriRuntimeReport {
  if (result.kind !== 'checked') throw new Error(`expected a checked result, got ${JSON.stringify(result)}`)
  return result
}

// ------------------------------------------------------------------------------------------------ codec

t.test('codec: requests encode to the exact bytes of the protobuf encoding', async (t) => {
  t.equal(hex(encodeVersionRequest({ version: '0.1.0' })), `0a05${Buffer.from('0.1.0').toString('hex')}`)
  t.equal(hex(encodeStatusRequest({ verbose: true })), '0801', 'bool true: tag 1/varint, 1')
  t.equal(hex(encodeStatusRequest({ verbose: false })), '', 'proto3 defaults are not written')
  t.equal(
    hex(encodeImageStatusRequest({ image: { image: 'pause:3.9' }, verbose: false })),
    `0a0b0a09${Buffer.from('pause:3.9').toString('hex')}`,
    'ImageSpec nested as field 1, its image as field 1',
  )
  t.equal(hex(encodeImageStatusRequest({ image: { image: '' }, verbose: true })), '0a001001', 'an empty nested message is still present')
})

t.test('codec: every message round-trips', async (t) => {
  const versionRequest: VersionRequest = { version: '0.1.0' }
  t.same(decodeVersionRequest(encodeVersionRequest(versionRequest)), versionRequest)
  const version: VersionResponse = { version: '0.1.0', runtimeName: 'containerd', runtimeVersion: 'v1.6.20 ✓ ünïcode', runtimeApiVersion: 'v1' }
  t.same(decodeVersionResponse(encodeVersionResponse(version)), version)
  t.same(decodeVersionResponse(encodeVersionResponse({ version: '', runtimeName: '', runtimeVersion: '', runtimeApiVersion: '' })), {
    version: '',
    runtimeName: '',
    runtimeVersion: '',
    runtimeApiVersion: '',
  })

  for (const request of [{ verbose: true }, { verbose: false }] satisfies StatusRequest[]) t.same(decodeStatusRequest(encodeStatusRequest(request)), request)
  const long = 'x'.repeat(300) // a two-byte length varint
  const status: StatusResponse = {
    status: {
      conditions: [
        { type: 'RuntimeReady', status: true, reason: '', message: '' },
        { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: long },
      ],
    },
    info: new Map([
      ['config', '{"sandboxImage":"registry.k8s.io/pause:3.9"}'],
      ['golang', '"go1.22"'],
      ['', 'empty key'],
      ['empty value', ''],
    ]),
  }
  t.same(decodeStatusResponse(encodeStatusResponse(status)), status)
  t.same(decodeStatusResponse(encodeStatusResponse({ status: null, info: new Map() })), { status: null, info: new Map() }, 'no status message stays null')
  t.same(decodeStatusResponse(encodeStatusResponse({ status: { conditions: [] }, info: new Map() })).status, { conditions: [] }, 'an empty status stays present')

  for (const request of [
    { image: { image: 'registry.k8s.io/pause:3.9' }, verbose: true },
    { image: null, verbose: false },
  ] satisfies ImageStatusRequest[]) {
    t.same(decodeImageStatusRequest(encodeImageStatusRequest(request)), request)
  }
  for (const response of [
    { image: { id: 'sha256:abc', repoTags: ['registry.k8s.io/pause:3.9', ''], repoDigests: ['registry.k8s.io/pause@sha256:def'] }, info: new Map([['info', '{}']]) },
    { image: null, info: new Map() },
  ] satisfies ImageStatusResponse[]) {
    t.same(decodeImageStatusResponse(encodeImageStatusResponse(response)), response)
  }
})

t.test('codec: unknown fields of every wire type are skipped, known ones still read', async (t) => {
  const message = bytes(
    len(1, '0.1.0'),
    new ProtoWriter().tag(0x7fff, WIRE.varint).varint(2 ** 35).finish(), // a three-byte tag, a six-byte value
    (9 << 3) | WIRE.varint, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, // -1 as int64: ten bytes
    len(2, 'containerd'),
    (10 << 3) | WIRE.fixed64, 1, 2, 3, 4, 5, 6, 7, 8,
    len(11, bytes(0x08, 0x96, 0x01)), // a nested message nobody asked for
    (12 << 3) | WIRE.startGroup, // a group holding a varint, a string and an empty nested group
    (1 << 3) | WIRE.varint, 0x05,
    len(2, 'in a group'),
    (3 << 3) | WIRE.startGroup, (3 << 3) | WIRE.endGroup,
    (12 << 3) | WIRE.endGroup,
    (13 << 3) | WIRE.fixed32, 0xde, 0xad, 0xbe, 0xef,
    len(3, '1.6.20'),
    len(4, 'v1'),
  )
  t.same(decodeVersionResponse(message), { version: '0.1.0', runtimeName: 'containerd', runtimeVersion: '1.6.20', runtimeApiVersion: 'v1' })
  const fields = [...readFields(message)]
  t.same(
    fields.map((f) => `${f.field}/${f.wireType}`),
    ['1/2', '32767/0', '9/0', '2/2', '10/1', '11/2', '12/3', '13/5', '3/2', '4/2'],
    'each field read once, a group (with its nested group) as one',
  )
  t.match(fields[1], { value: 2 ** 35 })
})

t.test('codec: a known field with the wrong wire type is skipped; last value wins; nested messages merge', async (t) => {
  const version = bytes((2 << 3) | WIRE.varint, 0x07, len(2, 'first'), len(2, 'second'))
  t.equal(decodeVersionResponse(version).runtimeName, 'second', 'a varint where a string belongs is unknown; the last string wins')

  const condition = (type: string, status: boolean) => new ProtoWriter().string(1, type).bool(2, status).finish()
  const status = bytes(
    len(1, len(1, condition('RuntimeReady', true))),
    len(2, bytes(len(1, 'config'))), // a map entry without a value
    len(2, bytes(len(2, 'only a value'))), // a map entry without a key
    len(1, len(1, condition('NetworkReady', false))), // the status message again: merged
    len(2, bytes(len(1, 'k'), len(2, 'old'))),
    len(2, bytes(len(1, 'k'), len(2, 'new'))), // a repeated key: the last wins
  )
  const decoded = decodeStatusResponse(status)
  t.same(decoded.status?.conditions.map((c) => [c.type, c.status]), [['RuntimeReady', true], ['NetworkReady', false]])
  t.same([...decoded.info], [['config', ''], ['', 'only a value'], ['k', 'new']])

  const twoImageChunks = bytes(len(1, len(1, 'sha256:one')), len(1, len(2, 'tag-a')), len(1, len(2, 'tag-b')))
  t.same(decodeImageStatusResponse(twoImageChunks).image, { id: 'sha256:one', repoTags: ['tag-a', 'tag-b'], repoDigests: [] })
})

t.test('codec: varints are exact past 32 bits, and malformed input is refused', async (t) => {
  for (const value of [0, 1, 127, 128, 300, 2 ** 31, 2 ** 32 + 5, 2 ** 40 + 1, Number.MAX_SAFE_INTEGER]) {
    const encoded = new ProtoWriter().tag(1, WIRE.varint).varint(value).finish()
    const [field] = [...readFields(encoded)]
    t.same(field, { field: 1, wireType: WIRE.varint, value }, `varint ${value}`)
  }
  t.throws(() => new ProtoWriter().varint(-1), RangeError)
  t.throws(() => new ProtoWriter().tag(0, WIRE.varint), RangeError)

  for (const [name, input] of [
    ['a truncated varint', bytes(0x08, 0x80)],
    ['a truncated length-delimited field', bytes(0x12, 0x05, 0x61)],
    ['a truncated fixed32', bytes((1 << 3) | WIRE.fixed32, 1, 2)],
    ['a truncated fixed64', bytes((1 << 3) | WIRE.fixed64, 1, 2, 3, 4)],
    ['a varint longer than 10 bytes', bytes(0x08, ...Array<number>(10).fill(0xff), 0x01)],
    ['field number 0', bytes(0x00, 0x01)],
    ['an end group with no group', bytes((1 << 3) | WIRE.endGroup)],
    ['a group closed by another field', bytes((1 << 3) | WIRE.startGroup, (2 << 3) | WIRE.endGroup)],
    ['a group never closed', bytes((1 << 3) | WIRE.startGroup, 0x08, 0x01)],
    ['wire type 6', bytes((1 << 3) | 6)],
    ['wire type 7', bytes((1 << 3) | 7)],
  ] as const) {
    t.throws(() => decodeVersionResponse(input), ProtobufDecodeError, name)
  }
  t.throws(() => decodeStatusResponse(bytes(len(1, bytes(0x0a, 0x09)))), ProtobufDecodeError, 'malformed nested messages are refused too')
})

// ------------------------------------------------------------------------------------ sandbox image rules

t.test('the reported sandbox image: info["config"].sandboxImage, else null', async (t) => {
  const containerd16 = JSON.stringify({ containerd: { snapshotter: 'overlayfs' }, sandboxImage: 'registry.k8s.io/pause:3.6', enableSelinux: false })
  t.equal(reportedSandboxImage(new Map([['config', containerd16], ['golang', '"go1.19"']])), 'registry.k8s.io/pause:3.6', 'containerd 1.x')
  t.equal(reportedSandboxImage(new Map([['config', '{"sandboxImage":"registry.k8s.io/pause:3.10"}']])), 'registry.k8s.io/pause:3.10', 'CRI-O, cri-dockerd')
  t.equal(reportedSandboxImage(new Map([['config', '{"containerd":{},"cni":{}}']])), null, 'containerd 2.x: no sandboxImage')
  t.equal(reportedSandboxImage(new Map()), null, 'iSulad: no info')
  for (const config of ['not json', '"a string"', 'null', '[]', '{"sandboxImage":""}', '{"sandboxImage":3}']) {
    t.equal(reportedSandboxImage(new Map([['config', config]])), null, config)
  }
})

t.test('image references compare in their fully qualified form', async (t) => {
  for (const [given, expected] of [
    ['pause', 'docker.io/library/pause:latest'],
    ['pause:3.9', 'docker.io/library/pause:3.9'],
    ['docker.io/pause:3.9', 'docker.io/library/pause:3.9'],
    ['index.docker.io/library/pause:3.9', 'docker.io/library/pause:3.9'],
    ['kubeedge/pause:3.6', 'docker.io/kubeedge/pause:3.6'],
    ['registry.k8s.io/pause:3.9', 'registry.k8s.io/pause:3.9'],
    ['localhost/pause', 'localhost/pause:latest'],
    ['127.0.0.1:5000/pause:3.9', '127.0.0.1:5000/pause:3.9'],
    ['registry.k8s.io/pause@sha256:abc', 'registry.k8s.io/pause@sha256:abc'],
    ['registry.k8s.io/pause:3.9@sha256:abc', 'registry.k8s.io/pause:3.9@sha256:abc'],
  ] as const) {
    t.equal(normalizeImageReference(given), expected, given)
  }
  t.ok(sameImageReference('pause:3.9', 'docker.io/library/pause:3.9'))
  t.notOk(sameImageReference('registry.k8s.io/pause:3.9', 'registry.k8s.io/pause:3.10'))
  t.notOk(sameImageReference('registry.k8s.io/pause:3.9', 'docker.io/library/pause:3.9'), 'another registry is another image')
})

// ------------------------------------------------------------------------------------------- endpoints

t.test('endpoints: unix sockets in every written form, named pipes, and refusals', async (t) => {
  t.same(parseCriEndpoint('unix:///run/containerd/containerd.sock'), { kind: 'unix', path: '/run/containerd/containerd.sock', target: 'unix:///run/containerd/containerd.sock' })
  t.same(parseCriEndpoint('unix:/var/run/crio/crio.sock'), { kind: 'unix', path: '/var/run/crio/crio.sock', target: 'unix:///var/run/crio/crio.sock' })
  t.same(parseCriEndpoint('/var/run/isulad.sock'), { kind: 'unix', path: '/var/run/isulad.sock', target: 'unix:///var/run/isulad.sock' })
  t.same(parseCriEndpoint('npipe:////./pipe/containerd-containerd'), { kind: 'npipe', path: '\\\\.\\pipe\\containerd-containerd' })
  t.same(parseCriEndpoint('npipe://./pipe/cri-dockerd'), { kind: 'npipe', path: '\\\\.\\pipe\\cri-dockerd' })
  for (const bad of ['', 'unix://relative.sock', 'tcp://127.0.0.1:10010', 'relative/path.sock', 'npipe://']) {
    t.throws(() => parseCriEndpoint(bad), CriEndpointError, JSON.stringify(bad))
  }
  const result = await checkRuntimeOverCri('npipe:////./pipe/containerd-containerd', 'registry.k8s.io/pause:3.9', { timeoutMs: 100, attempts: 1, delayMs: 0 })
  t.equal(result.kind, 'unsupported-endpoint')
  if (result.kind === 'unsupported-endpoint') t.match(result.reason, /named pipes/)
})

// ------------------------------------------------------------------------------------- no runtime there

t.test('no runtime at the socket: retries, then a clear error naming the endpoint, quickly', async (t) => {
  const dir = tempDir(t, 'edgebundle-cri-none-')
  const missing = `unix://${join(dir, 'missing.sock')}`
  const started = Date.now()
  const error = await checkRuntimeOverCri(missing, 'registry.k8s.io/pause:3.9', { timeoutMs: 1000, attempts: 4, delayMs: 20 }).then(
    () => null,
    (e: unknown) => e,
  )
  const ms = Date.now() - started
  t.type(error, CriUnavailableError)
  if (!(error instanceof CriUnavailableError)) return
  t.equal(error.attempts, 4)
  t.equal(error.endpoint, missing)
  t.equal(error.reason, 'the socket does not exist')
  t.match(error.message, missing)
  t.match(error.message, /4 attempts/)
  t.equal(error.exitCode, 1, 'a step failure')
  t.comment(`gave up after ${ms} ms`)

  // A socket file nobody listens on any more (a runtime that died without cleaning up): connection refused.
  const live = join(dir, 'live.sock')
  const stale = join(dir, 'stale.sock')
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(live, resolve))
  linkSync(live, stale)
  await new Promise<void>((resolve) => server.close(() => resolve()))
  const refused = await checkRuntimeOverCri(`unix://${stale}`, 'x', { timeoutMs: 1000, attempts: 2, delayMs: 10 }).catch((e: unknown) => e)
  t.type(refused, CriUnavailableError)
  if (refused instanceof CriUnavailableError) t.equal(refused.reason, 'the socket exists but nothing accepts connections on it')

  // Something that accepts and hangs up at once (not speaking HTTP/2): also retried, then unavailable.
  const rude = createServer((socket) => socket.destroy())
  const rudePath = join(dir, 'rude.sock')
  await new Promise<void>((resolve) => rude.listen(rudePath, resolve))
  t.teardown(() => new Promise<void>((resolve) => rude.close(() => resolve())))
  const hungUp = await checkRuntimeOverCri(`unix://${rudePath}`, 'x', { timeoutMs: 1000, attempts: 2, delayMs: 10 }).catch((e: unknown) => e)
  t.type(hungUp, CriUnavailableError)
})

// -------------------------------------------------------------------------------------- fake runtimes

interface FakeRuntime {
  version?: VersionResponse
  status?: (request: StatusRequest) => StatusResponse
  imageStatus?: (request: ImageStatusRequest) => ImageStatusResponse
  /** Raw bytes sent as the Version response instead of an encoded one. */
  rawVersion?: Buffer
}

function method<Req, Res>(path: string, decode: (b: Buffer) => Req, encode: (r: Res) => Buffer): grpc.MethodDefinition<Req, Res> {
  return { path, requestStream: false, responseStream: false, requestSerialize: () => Buffer.alloc(0), requestDeserialize: decode, responseSerialize: encode, responseDeserialize: () => ({}) as Res }
}

/** A grpc-js server on a Unix socket in `dir` serving what `fake` says; closed at teardown. */
async function startFake(t: Test, dir: string, fake: FakeRuntime | null, name = 'fake.sock'): Promise<string> {
  const server = new grpc.Server()
  if (fake !== null) {
    const unimplemented = { code: grpc.status.UNIMPLEMENTED, details: 'not in this fake' }
    server.addService(
      {
        Version: method(CRI_METHODS.version, decodeVersionRequest, fake.rawVersion ? () => fake.rawVersion! : encodeVersionResponse),
        Status: method(CRI_METHODS.status, decodeStatusRequest, encodeStatusResponse),
      },
      {
        Version: (_call: unknown, callback: grpc.sendUnaryData<VersionResponse>) =>
          fake.version || fake.rawVersion ? callback(null, fake.version ?? ({} as VersionResponse)) : callback(unimplemented),
        Status: (call: grpc.ServerUnaryCall<StatusRequest, StatusResponse>, callback: grpc.sendUnaryData<StatusResponse>) =>
          fake.status ? callback(null, fake.status(call.request)) : callback(unimplemented),
      },
    )
    server.addService(
      { ImageStatus: method(CRI_METHODS.imageStatus, decodeImageStatusRequest, encodeImageStatusResponse) },
      {
        ImageStatus: (call: grpc.ServerUnaryCall<ImageStatusRequest, ImageStatusResponse>, callback: grpc.sendUnaryData<ImageStatusResponse>) =>
          fake.imageStatus ? callback(null, fake.imageStatus(call.request)) : callback(unimplemented),
      },
    )
  }
  const path = join(dir, name)
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${path}`, grpc.ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve())))
  t.teardown(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())))
  return `unix://${path}`
}

const CRIO_LIKE: FakeRuntime = {
  version: { version: '0.1.0', runtimeName: 'cri-o', runtimeVersion: '1.30.4', runtimeApiVersion: 'v1' },
  status: (request) => ({
    status: {
      conditions: [
        { type: 'RuntimeReady', status: true, reason: '', message: '' },
        { type: 'NetworkReady', status: true, reason: '', message: '' },
      ],
    },
    info: request.verbose ? new Map([['config', '{"sandboxImage":"registry.k8s.io/pause:3.9"}']]) : new Map(),
  }),
  imageStatus: (request) => ({
    image: request.image?.image === 'registry.k8s.io/pause:3.9' ? { id: 'sha256:e6f1', repoTags: ['registry.k8s.io/pause:3.9'], repoDigests: [] } : null,
    info: new Map(),
  }),
}

t.test('a CRI-O-like runtime: verbose Status reports the sandbox image, ImageStatus finds it', async (t) => {
  const dir = tempDir(t, 'edgebundle-cri-fake-')
  const endpoint = await startFake(t, dir, CRIO_LIKE)
  const report = checked(await checkRuntimeOverCri(endpoint, 'registry.k8s.io/pause:3.9', { timeoutMs: 2000, attempts: 1, delayMs: 0 }))
  t.same(report, {
    kind: 'checked',
    endpoint,
    version: { runtimeName: 'cri-o', runtimeVersion: '1.30.4', runtimeApiVersion: 'v1' },
    conditions: [
      { type: 'RuntimeReady', status: true, reason: '', message: '' },
      { type: 'NetworkReady', status: true, reason: '', message: '' },
    ],
    sandboxImage: { configured: 'registry.k8s.io/pause:3.9', reported: 'registry.k8s.io/pause:3.9', matches: true },
    imagePresent: true,
    attempts: 1,
  })

  const other = checked(await checkRuntimeOverCri(endpoint, 'registry.k8s.io/pause:3.10', { timeoutMs: 2000, attempts: 1, delayMs: 0 }))
  t.same(other.sandboxImage, { configured: 'registry.k8s.io/pause:3.10', reported: 'registry.k8s.io/pause:3.9', matches: false }, 'a mismatch is reported, not thrown')
  t.equal(other.imagePresent, false)
})

t.test('runtimes that do not report the sandbox image (containerd 2.x, iSulad): reported null', async (t) => {
  const dir = tempDir(t, 'edgebundle-cri-fake-')
  const endpoint = await startFake(t, dir, {
    ...CRIO_LIKE,
    version: { version: '0.1.0', runtimeName: 'containerd', runtimeVersion: 'v2.1.4', runtimeApiVersion: 'v1' },
    status: () => ({ status: null, info: new Map([['config', '{"containerd":{"defaultRuntimeName":"runc"}}']]) }),
  })
  const report = checked(await checkRuntimeOverCri(endpoint, 'registry.k8s.io/pause:3.9', { timeoutMs: 2000, attempts: 1, delayMs: 0 }))
  t.same(report.sandboxImage, { configured: 'registry.k8s.io/pause:3.9', reported: null, matches: false })
  t.same(report.conditions, [], 'no status message: no conditions')
  t.equal(report.imagePresent, true)
})

t.test('a runtime that starts late is retried until it answers', async (t) => {
  const dir = tempDir(t, 'edgebundle-cri-fake-')
  const endpoint = `unix://${join(dir, 'late.sock')}`
  const check = checkRuntimeOverCri(endpoint, 'registry.k8s.io/pause:3.9', { timeoutMs: 2000, attempts: 50, delayMs: 50 })
  await new Promise((resolve) => setTimeout(resolve, 300))
  await startFake(t, dir, CRIO_LIKE, 'late.sock')
  const report = checked(await check)
  t.ok(report.attempts > 1, `answered on attempt ${report.attempts}`)
  t.equal(report.version.runtimeName, 'cri-o')
})

t.test('a gRPC server without CRI v1, and one that sends garbage: CriCallError at once, no retries', async (t) => {
  const dir = tempDir(t, 'edgebundle-cri-fake-')
  const none = await startFake(t, dir, null, 'none.sock')
  // A retry would first wait 10 minutes, past this file's timeout: finishing at all shows there was none.
  const unimplemented = await checkRuntimeOverCri(none, 'x', { timeoutMs: 2000, attempts: 5, delayMs: 600_000 }).catch((e: unknown) => e)
  t.type(unimplemented, CriCallError)
  if (unimplemented instanceof CriCallError) {
    t.equal(unimplemented.method, CRI_METHODS.version)
    t.match(unimplemented.message, /does not serve CRI v1/)
    t.match(unimplemented.hint, /CRI plugin may be disabled/)
  }

  const garbage = await startFake(t, dir, { ...CRIO_LIKE, version: undefined, rawVersion: bytes(0x0a, 0x7f, 0x61) }, 'garbage.sock')
  const parseError = await checkRuntimeOverCri(garbage, 'x', { timeoutMs: 2000, attempts: 3, delayMs: 500 }).catch((e: unknown) => e)
  t.type(parseError, CriCallError)
  if (parseError instanceof CriCallError) t.match(parseError.message, /INTERNAL/)

  const noImageService = await startFake(t, dir, { ...CRIO_LIKE, imageStatus: undefined }, 'noimage.sock')
  const imageError = await checkRuntimeOverCri(noImageService, 'x', { timeoutMs: 2000, attempts: 1, delayMs: 0 }).catch((e: unknown) => e)
  t.type(imageError, CriCallError)
  if (imageError instanceof CriCallError) t.equal(imageError.method, CRI_METHODS.imageStatus, 'the failing method is named')
})

// ------------------------------------------------------------------------------------ real containerd

const CONTAINERD = '/usr/bin/containerd'
const SANDBOX = 'registry.k8s.io/pause:3.9-test'

function containerdSkipReason(): string | false {
  if (process.getuid?.() !== 0) return 'containerd needs root (CI runs as root)'
  if (!existsSync(CONTAINERD)) return `${CONTAINERD} is missing (CI installs the Debian containerd package)`
  return false
}

/** Unmounts whatever a run left under `dir` (none expected without containers), deepest first. */
function unmountUnder(dir: string): string[] {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined && (point === dir || point.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length)
  for (const point of mounts) execFileSync('umount', ['-R', point])
  return mounts
}

t.test('real containerd: Version, Status conditions, the configured sandbox image, image not present', { skip: containerdSkipReason() }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'edgebundle-cri-ctd-'))
  const q = (path: string) => JSON.stringify(path)
  for (const sub of ['cni/bin', 'cni/net.d']) mkdirSync(join(dir, sub), { recursive: true })
  const socket = join(dir, 'containerd.sock')
  writeFileSync(
    join(dir, 'config.toml'),
    [
      'version = 2',
      `root = ${q(join(dir, 'root'))}`,
      `state = ${q(join(dir, 'state'))}`,
      // Snapshotters that need a file system or kernel module this machine may not have.
      'disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]',
      '[grpc]',
      `  address = ${q(socket)}`,
      '[ttrpc]',
      `  address = ${q(`${socket}.ttrpc`)}`,
      // Would otherwise create /opt/containerd.
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = ${q(join(dir, 'opt'))}`,
      '[plugins."io.containerd.grpc.v1.cri"]',
      `  sandbox_image = ${q(SANDBOX)}`,
      '  restrict_oom_score_adj = true',
      '  stream_server_address = "127.0.0.1"',
      '  [plugins."io.containerd.grpc.v1.cri".cni]',
      `    bin_dir = ${q(join(dir, 'cni/bin'))}`,
      `    conf_dir = ${q(join(dir, 'cni/net.d'))}`,
      '',
    ].join('\n'),
  )

  let child: ChildProcess | undefined
  /** Stops containerd (TERM, then KILL after 15 s) and unmounts anything left under the temp folder; returns what it had to unmount. */
  const stop = async (): Promise<string[]> => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((resolve) => child!.once('exit', () => resolve()))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child?.kill('SIGKILL'), 15_000)
      await gone
      clearTimeout(timer)
    }
    return unmountUnder(dir)
  }
  // A tap timeout or a crash must not leave the daemon behind.
  const orphanGuard = () => child?.kill('SIGKILL')
  process.once('exit', orphanGuard)
  t.teardown(async () => {
    process.removeListener('exit', orphanGuard)
    await stop()
    rmSync(dir, { recursive: true, force: true })
  })
  const log = join(dir, 'containerd.log')
  const logTail = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-30).join('\n') : '(no log)')

  // The check starts before containerd does, as right after the installer restarts the service.
  const endpoint = `unix://${socket}`
  const check = checkRuntimeOverCri(endpoint, SANDBOX, { timeoutMs: 5000, attempts: 100, delayMs: 100 })
  await new Promise((resolve) => setTimeout(resolve, 300))
  const fd = openSync(log, 'a')
  child = spawn(CONTAINERD, ['--config', join(dir, 'config.toml')], { stdio: ['ignore', fd, fd] })
  closeSync(fd)

  let report: CriRuntimeReport
  try {
    report = checked(await check)
  } catch (error) {
    t.fail(`the check failed: ${(error as Error).message}\ncontainerd log:\n${logTail()}`)
    return
  }
  t.ok(report.attempts > 1, `containerd answered on attempt ${report.attempts}, after the retries while it started`)
  t.equal(report.version.runtimeName, 'containerd')
  t.match(report.version.runtimeVersion, /^v?1\.\d+\./)
  t.equal(report.version.runtimeApiVersion, 'v1')
  const condition = (type: string) => report.conditions.find((c) => c.type === type)
  t.match(condition('RuntimeReady'), { status: true })
  t.match(condition('NetworkReady'), { status: false, reason: 'NetworkPluginNotReady' }, 'no CNI config yet')
  t.same(report.sandboxImage, { configured: SANDBOX, reported: SANDBOX, matches: true })
  t.equal(report.imagePresent, false, 'nothing was pulled or imported')

  const other = checked(await checkRuntimeOverCri(endpoint, 'registry.k8s.io/pause:3.10', { timeoutMs: 5000, attempts: 1, delayMs: 0 }))
  t.same(other.sandboxImage, { configured: 'registry.k8s.io/pause:3.10', reported: SANDBOX, matches: false }, 'a bundle/runtime mismatch shows')

  // A CNI config appears (as the installer writes it): containerd's watcher reloads it and NetworkReady turns true.
  writeFileSync(
    join(dir, 'cni/net.d/10-edgebundle-test.conflist'),
    JSON.stringify({ cniVersion: '0.4.0', name: 'edgebundle-test', plugins: [{ type: 'bridge', bridge: 'ebtest0', ipam: { type: 'host-local', ranges: [[{ subnet: '10.250.0.0/24' }]] } }] }),
  )
  let networkReady = false
  for (let i = 0; i < 100 && !networkReady; i++) {
    const again = checked(await checkRuntimeOverCri(endpoint, SANDBOX, { timeoutMs: 5000, attempts: 1, delayMs: 0 }))
    networkReady = again.conditions.some((c) => c.type === 'NetworkReady' && c.status)
    if (!networkReady) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.ok(networkReady, 'NetworkReady once a CNI config exists')

  t.same(await stop(), [], 'containerd stopped and left nothing mounted under the temp folder')
  t.equal(child.exitCode, 0, 'it shut down cleanly on SIGTERM')
})
