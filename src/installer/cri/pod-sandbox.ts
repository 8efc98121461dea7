/**
 * Pod sandboxes over CRI: run one, read its status, stop and remove it, as the kubelet/edgecore does for
 * every pod. The installer does not call these (it only checks the runtime); the end-to-end tests do, to
 * prove a runtime a bundle installed can start a pod with its pause image and CNI network. Same transport
 * (grpc-js, loaded on first use) and codec as the runtime check.
 */
import type * as GrpcJs from '@grpc/grpc-js'
import {
  type PodSandboxIdRequest,
  type PodSandboxStatus,
  type PodSandboxStatusResponse,
  type RunPodSandboxRequest,
  type RunPodSandboxResponse,
  decodeEmptyResponse,
  decodePodSandboxStatusResponse,
  decodeRunPodSandboxResponse,
  encodePodSandboxIdRequest,
  encodeRunPodSandboxRequest,
} from './codec.js'
import { CHANNEL_OPTIONS, loadGrpc, parseCriEndpoint, unary } from './client.js'
import { CriEndpointError } from './errors.js'

export const POD_SANDBOX_METHODS = {
  run: '/runtime.v1.RuntimeService/RunPodSandbox',
  status: '/runtime.v1.RuntimeService/PodSandboxStatus',
  stop: '/runtime.v1.RuntimeService/StopPodSandbox',
  remove: '/runtime.v1.RuntimeService/RemovePodSandbox',
} as const

/** One connection to a runtime's CRI socket for a sequence of sandbox calls; close() when done. */
export class PodSandboxClient {
  private constructor(
    private readonly client: GrpcJs.Client,
    private readonly timeoutMs: number,
  ) {}

  /** `endpoint` as in crictl.yaml: unix:///path or a bare socket path. */
  static async connect(endpoint: string, timeoutMs: number): Promise<PodSandboxClient> {
    const parsed = parseCriEndpoint(endpoint)
    if (parsed.kind !== 'unix') throw new CriEndpointError(`pod sandboxes are run over unix sockets only, not ${endpoint}`)
    const grpc = await loadGrpc()
    return new PodSandboxClient(new grpc.Client(parsed.target, grpc.credentials.createInsecure(), CHANNEL_OPTIONS), timeoutMs)
  }

  /** Creates and starts the sandbox (pulling nothing when the sandbox image is present); returns its id. */
  async run(request: RunPodSandboxRequest): Promise<string> {
    const response = await unary<RunPodSandboxRequest, RunPodSandboxResponse>(this.client, POD_SANDBOX_METHODS.run, encodeRunPodSandboxRequest, decodeRunPodSandboxResponse, request, this.timeoutMs)
    return response.podSandboxId
  }

  async status(podSandboxId: string, verbose = false): Promise<{ status: PodSandboxStatus | null; info: Map<string, string> }> {
    return unary<PodSandboxIdRequest, PodSandboxStatusResponse>(
      this.client,
      POD_SANDBOX_METHODS.status,
      encodePodSandboxIdRequest,
      decodePodSandboxStatusResponse,
      { podSandboxId, verbose },
      this.timeoutMs,
    )
  }

  /** Stops the sandbox and releases its network (CNI DEL); idempotent. */
  async stop(podSandboxId: string): Promise<void> {
    await unary(this.client, POD_SANDBOX_METHODS.stop, encodePodSandboxIdRequest, decodeEmptyResponse, { podSandboxId }, this.timeoutMs)
  }

  /** Removes a stopped sandbox; idempotent. */
  async remove(podSandboxId: string): Promise<void> {
    await unary(this.client, POD_SANDBOX_METHODS.remove, encodePodSandboxIdRequest, decodeEmptyResponse, { podSandboxId }, this.timeoutMs)
  }

  close(): void {
    this.client.close()
  }
}
