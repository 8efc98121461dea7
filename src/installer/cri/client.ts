/**
 * The installer's last check (docs/architecture.md "The installer on the node": steps → runtime check over CRI →
 * report): ask the container runtime, the way the kubelet/edgecore will, for its Version, its Status
 * conditions (RuntimeReady, NetworkReady) and the sandbox image it reports, and whether that image is
 * present locally (ImageStatus). gRPC comes from @grpc/grpc-js; the messages from codec.ts (cri.proto).
 *
 * grpc-js is loaded on first use, not at start-up: esbuild bundles it into the installer either way, but
 * a dynamic import of a bundled module becomes a lazily run module wrapper, so `install --version`, a
 * dry run or a failed verification never pay for evaluating it.
 */
import type * as GrpcJs from '@grpc/grpc-js'
import {
  type ImageStatusRequest,
  type ImageStatusResponse,
  type RuntimeCondition,
  type StatusRequest,
  type StatusResponse,
  type VersionRequest,
  type VersionResponse,
  decodeImageStatusResponse,
  decodeStatusResponse,
  decodeVersionResponse,
  encodeImageStatusRequest,
  encodeStatusRequest,
  encodeVersionRequest,
} from './codec.js'
import { CriCallError, CriEndpointError, CriUnavailableError } from './errors.js'
import { reportedSandboxImage, sameImageReference } from './sandbox-image.js'

export const CRI_METHODS = {
  version: '/runtime.v1.RuntimeService/Version',
  status: '/runtime.v1.RuntimeService/Status',
  imageStatus: '/runtime.v1.ImageService/ImageStatus',
} as const

/** What the kubelet sends as VersionRequest.version (kubeRuntimeAPIVersion); runtimes do not check it. */
const KUBELET_RUNTIME_API_VERSION = '0.1.0'

export interface CriCheckOptions {
  /** Deadline of each call. */
  timeoutMs: number
  /** Tries in all while nothing answers (a runtime that was just restarted needs a moment to listen). */
  attempts: number
  /** Pause between tries. */
  delayMs: number
}

export type CriEndpoint =
  /** `target` is what grpc-js dials: unix:///abs/path. */
  | { kind: 'unix'; path: string; target: string }
  | { kind: 'npipe'; path: string }

export interface CriRuntimeReport {
  kind: 'checked'
  endpoint: string
  version: { runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }
  /** As the runtime sent them: RuntimeReady, NetworkReady, and any of its own. */
  conditions: RuntimeCondition[]
  sandboxImage: {
    configured: string
    /** From Status(verbose).info; null where the runtime does not say (containerd 2.x, iSulad: sandbox-image.ts). */
    reported: string | null
    /** reported names the configured image; false when nothing was reported. */
    matches: boolean
  }
  /** ImageStatus found the configured sandbox image in the runtime's image store. */
  imagePresent: boolean
  /** Tries it took (1 when the runtime answered at once). */
  attempts: number
}

/** An endpoint this check cannot dial; the caller reports it as a warning, not a failure. */
export interface CriUnsupportedEndpoint {
  kind: 'unsupported-endpoint'
  endpoint: string
  reason: string
}

export type CriCheckResult = CriRuntimeReport | CriUnsupportedEndpoint

/**
 * Parses a CRI endpoint as crictl and the kubelet write it: unix:///run/containerd/containerd.sock,
 * a bare absolute socket path (crictl's legacy form), or npipe:////./pipe/containerd-containerd.
 */
export function parseCriEndpoint(endpoint: string): CriEndpoint {
  const unix = /^unix:\/\/(\/.*)$/.exec(endpoint) ?? /^unix:(\/(?!\/).*)$/.exec(endpoint)
  const path = unix ? unix[1]! : endpoint.startsWith('/') ? endpoint : null
  if (path !== null) return { kind: 'unix', path, target: `unix://${path}` }
  const npipe = /^npipe:\/\/(?:\/\/)?(.+)$/.exec(endpoint)
  if (npipe) return { kind: 'npipe', path: `\\\\${npipe[1]!.replace(/^\/+/, '').replace(/\//g, '\\')}` }
  throw new CriEndpointError(`${JSON.stringify(endpoint)} is not a CRI endpoint this installer can use`, {
    hint: 'Use unix:///path/to/runtime.sock (Linux) or npipe:////./pipe/<name> (Windows).',
  })
}

let grpcModule: Promise<typeof GrpcJs> | undefined

export function loadGrpc(): Promise<typeof GrpcJs> {
  return (grpcModule ??= import('@grpc/grpc-js').then((m) => {
    // Node's ESM loader exposes a CommonJS module's exports as named exports; esbuild's interop (the
    // package marks itself __esModule) may leave them only on the namespace as well. Take whichever has Client.
    const namespace = m as typeof GrpcJs & { default?: typeof GrpcJs }
    return typeof namespace.Client === 'function' ? namespace : namespace.default!
  }))
}

/** The kubelet's limit for CRI responses (a verbose Status can carry the runtime's whole config). */
export const CHANNEL_OPTIONS = { 'grpc.max_receive_message_length': 16 * 1024 * 1024 }

/** A failed call, with the method it was (Promise.all would otherwise lose which one). */
class RpcFailure extends Error {
  constructor(
    readonly method: string,
    readonly error: Error,
  ) {
    super(`${method}: ${error.message}`)
  }
}

export function unary<Req, Res>(client: GrpcJs.Client, method: string, encode: (request: Req) => Buffer, decode: (bytes: Buffer) => Res, request: Req, timeoutMs: number): Promise<Res> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(method, encode, decode, request, { deadline: Date.now() + timeoutMs }, (error, value) => {
      if (error) reject(new RpcFailure(method, error))
      else if (value === undefined) reject(new RpcFailure(method, new Error('no message in the response')))
      else resolve(value)
    })
  })
}

interface Answers {
  version: VersionResponse
  status: StatusResponse
  image: ImageStatusResponse | null
}

async function queryOnce(grpc: typeof GrpcJs, target: string, sandboxImage: string, timeoutMs: number): Promise<Answers> {
  const client = new grpc.Client(target, grpc.credentials.createInsecure(), CHANNEL_OPTIONS)
  try {
    const version = await unary<VersionRequest, VersionResponse>(client, CRI_METHODS.version, encodeVersionRequest, decodeVersionResponse, { version: KUBELET_RUNTIME_API_VERSION }, timeoutMs)
    // The connection is up: both remaining questions share it.
    const [status, image] = await Promise.all([
      unary<StatusRequest, StatusResponse>(client, CRI_METHODS.status, encodeStatusRequest, decodeStatusResponse, { verbose: true }, timeoutMs),
      sandboxImage === ''
        ? Promise.resolve(null)
        : unary<ImageStatusRequest, ImageStatusResponse>(
            client,
            CRI_METHODS.imageStatus,
            encodeImageStatusRequest,
            decodeImageStatusResponse,
            { image: { image: sandboxImage }, verbose: false },
            timeoutMs,
          ),
    ])
    return { version, status, image }
  } finally {
    client.close()
  }
}

function isServiceError(error: unknown): error is GrpcJs.ServiceError {
  return error instanceof Error && typeof (error as Partial<GrpcJs.ServiceError>).code === 'number' && 'details' in error
}

/** The last failure in words, from grpc-js's details ("No connection established. Last error: connect ENOENT …"). */
function describeUnavailable(grpc: typeof GrpcJs, error: GrpcJs.ServiceError): string {
  if (error.code === grpc.status.DEADLINE_EXCEEDED) return 'the runtime accepted the connection but did not answer in time'
  if (/\bENOENT\b/.test(error.details)) return 'the socket does not exist'
  if (/\bECONNREFUSED\b/.test(error.details)) return 'the socket exists but nothing accepts connections on it'
  if (/\bEACCES\b/.test(error.details)) return 'permission denied on the socket (run the installer as root)'
  return error.details || error.message
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Checks the runtime behind `endpoint` and compares the sandbox image it reports with `sandboxImage`
 * (the one the bundle configured). Retries while the runtime does not answer, then throws
 * CriUnavailableError naming the endpoint; a runtime that answers with an error throws CriCallError.
 */
export async function checkRuntimeOverCri(endpoint: string, sandboxImage: string, options: CriCheckOptions): Promise<CriCheckResult> {
  const parsed = parseCriEndpoint(endpoint)
  if (parsed.kind === 'npipe') {
    return {
      kind: 'unsupported-endpoint',
      endpoint,
      // grpc-js has no npipe scheme (its resolvers: dns, ipv4/ipv6, unix) and its maintainers declined one
      // (grpc-node#1244). Its unix: resolver hands the path to net.connect, which on Windows opens a named
      // pipe, but that is unsupported upstream and reported not to work (grpc-node#2099, #2649), and
      // nothing here can test it. So Windows gets a warning and the crictl line that does the same check.
      reason: `grpc-js cannot dial Windows named pipes (${parsed.path}); check the runtime with \`crictl --runtime-endpoint ${endpoint} info\``,
    }
  }
  const grpc = await loadGrpc()
  const { value: answers, attempt } = await withCriRetries(grpc, endpoint, options, () => queryOnce(grpc, parsed.target, sandboxImage, options.timeoutMs))
  const reported = reportedSandboxImage(answers.status.info)
  return {
    kind: 'checked',
    endpoint,
    version: {
      runtimeName: answers.version.runtimeName,
      runtimeVersion: answers.version.runtimeVersion,
      runtimeApiVersion: answers.version.runtimeApiVersion,
    },
    conditions: answers.status.status?.conditions ?? [],
    sandboxImage: { configured: sandboxImage, reported, matches: reported !== null && sameImageReference(reported, sandboxImage) },
    imagePresent: answers.image?.image != null,
    attempts: attempt,
  }
}

/**
 * Runs `once` until the runtime answers: UNAVAILABLE and DEADLINE_EXCEEDED (nothing listening yet, a runtime
 * still starting) are retried after options.delayMs, up to options.attempts, then CriUnavailableError; any
 * other answer is the runtime's own error (CriCallError), not retried.
 */
async function withCriRetries<T>(grpc: typeof GrpcJs, endpoint: string, options: CriCheckOptions, once: () => Promise<T>): Promise<{ value: T; attempt: number }> {
  const attempts = Math.max(1, Math.floor(options.attempts))
  const started = Date.now()
  let last: GrpcJs.ServiceError | undefined
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return { value: await once(), attempt }
    } catch (error) {
      if (!(error instanceof RpcFailure)) throw error
      const cause = error.error
      if (isServiceError(cause) && (cause.code === grpc.status.UNAVAILABLE || cause.code === grpc.status.DEADLINE_EXCEEDED)) {
        last = cause
        if (attempt < attempts) await sleep(options.delayMs)
        continue
      }
      throw callError(grpc, endpoint, error.method, cause)
    }
  }
  throw new CriUnavailableError(endpoint, attempts, Date.now() - started, last ? describeUnavailable(grpc, last) : 'no attempt was made', last)
}

function callError(grpc: typeof GrpcJs, endpoint: string, method: string, error: Error): CriCallError {
  if (!isServiceError(error)) return new CriCallError(endpoint, method, error.message, { cause: error })
  if (error.code === grpc.status.UNIMPLEMENTED) {
    return new CriCallError(endpoint, method, `it does not serve CRI v1 (${error.details})`, {
      hint: "The runtime answers gRPC but not runtime.v1: containerd's CRI plugin may be disabled (disabled_plugins holds \"cri\" in the config Docker's packages ship), or the runtime only speaks CRI v1alpha2 (iSulad without enable-cri-v1).",
      cause: error,
    })
  }
  return new CriCallError(endpoint, method, `${grpc.status[error.code] ?? error.code}: ${error.details}`, { cause: error })
}

/**
 * Whether the runtime behind `endpoint` holds each image, asked the way keadm asks before it pulls
 * (ImageStatus with the reference as keadm names it; the runtime normalizes it, as it does for keadm).
 * null: an endpoint this client cannot dial (a Windows named pipe). Retries while nothing answers, then
 * throws CriUnavailableError; a runtime that answers with an error throws CriCallError.
 */
export async function imagesPresentOverCri(endpoint: string, images: readonly string[], options: CriCheckOptions): Promise<boolean[] | null> {
  const parsed = parseCriEndpoint(endpoint)
  if (parsed.kind === 'npipe') return null
  const grpc = await loadGrpc()
  const { value } = await withCriRetries(grpc, endpoint, options, async () => {
    const client = new grpc.Client(parsed.target, grpc.credentials.createInsecure(), CHANNEL_OPTIONS)
    try {
      const present: boolean[] = []
      for (const image of images) {
        const answer = await unary<ImageStatusRequest, ImageStatusResponse>(
          client,
          CRI_METHODS.imageStatus,
          encodeImageStatusRequest,
          decodeImageStatusResponse,
          { image: { image }, verbose: false },
          options.timeoutMs,
        )
        present.push(answer.image != null)
      }
      return present
    } finally {
      client.close()
    }
  })
  return value
}
