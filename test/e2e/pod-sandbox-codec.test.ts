/**
 * The pod sandbox messages the end-to-end suite sends to containerd, byte for byte: field numbers are the
 * CRI protocol (k8s.io/cri-api runtime/v1), so a wrong one is caught here, without a runtime, and not
 * only as an odd error from containerd as root.
 */
import t from 'tap'
import { ProtoWriter, SANDBOX_STATE, WIRE, decodePodSandboxStatusResponse, decodeRunPodSandboxResponse, encodePodSandboxIdRequest, encodeRunPodSandboxRequest } from '../../src/installer/cri/codec.js'

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')
const utf8 = (text: string) => Buffer.from(text, 'utf8').toString('hex')

t.test('RunPodSandboxRequest: config = 1 {metadata = 1 {name 1, uid 2, namespace 3}, hostname = 2, log_directory = 3, labels = 6}', async (t) => {
  const bytes = encodeRunPodSandboxRequest({
    config: { metadata: { name: 'p', uid: 'u', namespace: 'n', attempt: 0 }, hostname: 'h', logDirectory: '/l', labels: new Map([['a', 'b']]) },
    runtimeHandler: '',
  })
  const metadata = `0a01${utf8('p')}1201${utf8('u')}1a01${utf8('n')}`
  const config = `0a09${metadata}1201${utf8('h')}1a02${utf8('/l')}32060a01${utf8('a')}1201${utf8('b')}`
  t.equal(hex(bytes), `0a1a${config}`)
  t.equal(
    hex(encodeRunPodSandboxRequest({ config: { metadata: { name: 'p', uid: '', namespace: '', attempt: 2 }, hostname: '', logDirectory: '', labels: new Map() }, runtimeHandler: 'runc' })),
    `0a070a05${`0a01${utf8('p')}2002`}1204${utf8('runc')}`,
    'attempt = 4 as a varint, runtime_handler = 2',
  )
})

t.test('PodSandboxStatus/Stop/Remove requests: pod_sandbox_id = 1, verbose = 2', async (t) => {
  t.equal(hex(encodePodSandboxIdRequest({ podSandboxId: 'abc', verbose: true })), `0a03${utf8('abc')}1001`)
  t.equal(hex(encodePodSandboxIdRequest({ podSandboxId: 'abc' })), `0a03${utf8('abc')}`)
})

t.test('responses decode, unknown fields skipped, SANDBOX_READY absent on the wire', async (t) => {
  t.same(decodeRunPodSandboxResponse(new ProtoWriter().string(1, 'id-1').string(9, 'future').finish()), { podSandboxId: 'id-1' })

  const metadata = new ProtoWriter().string(1, 'p').string(2, 'u').string(3, 'n').finish()
  const network = new ProtoWriter().string(1, '10.88.0.2').message(2, new ProtoWriter().string(1, 'fd00::2').finish()).finish()
  const status = new ProtoWriter()
    .string(1, 'id-1')
    .message(2, metadata)
    .tag(3, WIRE.varint)
    .varint(SANDBOX_STATE.notReady)
    .tag(4, WIRE.varint)
    .varint(1_700_000_000_000) // created_at: not read
    .message(5, network)
    .finish()
  const response = new ProtoWriter().message(1, status).stringMap(2, new Map([['info', '{}']])).finish()
  t.same(decodePodSandboxStatusResponse(response), {
    status: { id: 'id-1', metadata: { name: 'p', uid: 'u', namespace: 'n', attempt: 0 }, state: SANDBOX_STATE.notReady, network: { ip: '10.88.0.2', additionalIps: ['fd00::2'] } },
    info: new Map([['info', '{}']]),
  })
  const ready = decodePodSandboxStatusResponse(new ProtoWriter().message(1, new ProtoWriter().string(1, 'id-2').finish()).finish())
  t.match(ready.status, { id: 'id-2', state: SANDBOX_STATE.ready, network: null }, 'no state field: READY (proto3 default 0)')
  t.same(decodePodSandboxStatusResponse(Buffer.alloc(0)), { status: null, info: new Map() })
})
