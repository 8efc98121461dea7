/**
 * Issue 15: a bundle rolled out to a fleet with the playbooks it carries (ansible/), on real parts: Debian's
 * ansible-core drives three OpenSSH servers on 127.0.0.1 (key authentication, one port each) standing in for
 * three nodes, each installing with --root into its own staging root, so nothing touches this machine. The
 * bundle is ubuntu/amd64/containerd, built by `edgebundle build` from the loopback test mirror.
 *
 * Shown: --check changes no byte (fresh, and once installed); all three install; a second run is changed=0
 * on every host and copies no archive byte; a host given a corrupted archive fails with exit 3 while the
 * other two succeed; edgebundle_max_fail_percentage stops a batch; rollback and uninstall undo it all; the token is in no file under the roots, the
 * remote folders, the reports or Ansible's temporary folders, nor in ansible-playbook -vvv output;
 * ansible-lint passes on the playbooks; `edgebundle report` summarises the fetched reports.
 */
import { spawn } from 'node:child_process'
import { chmodSync, createWriteStream, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import t from 'tap'
import { run as cliRun } from '../../src/cli/main.js'
import { which } from '../../src/sea/host.js'
import { debianArtifacts, debianPartsInstalled, testCatalog } from '../fetch/artifacts.js'
import { startMirror } from '../fetch/mirror.js'
import { buildBundle, exec, freshArtifactCache, succeeded } from '../e2e/fixtures.js'
import { snapshot } from '../installer/node-fixtures.js'
import { type Daemon, buildTestImages, freePort, missingTools, spawnWatched, waitUntil } from '../oci/fixtures.js'
import { installerFor, need } from '../sea/fixtures.js'
import { fileContains, fileDigest } from '../fixtures/files.js'
import { untarArgs } from '../fixtures/gunzip.js'

// Seven playbook runs against three hosts, each verifying an ~90 MB bundle: minutes on a loaded machine.
const SUITE_TIMEOUT_MS = 45 * 60_000
t.setTimeout(SUITE_TIMEOUT_MS)

const NAME = 'edgebundle-1.23-ubuntu-amd64-containerd'
const HOSTS = ['host1', 'host2', 'host3'] as const
// What a real token looks like: a JWT-ish string; unique so a grep finds nothing else.
const TOKEN = `eyJhbGciOiJIUzI1NiJ9.fleet-${process.pid}-${Date.now()}.c2VjcmV0LXNpZ25hdHVyZQ`

interface Recap {
  ok: number
  changed: number
  unreachable: number
  failed: number
  skipped: number
}

/** PLAY RECAP lines: "host1 : ok=15 changed=4 unreachable=0 failed=0 skipped=2 rescued=0 ignored=0". */
function recapOf(output: string): Record<string, Recap> {
  const out: Record<string, Recap> = {}
  const at = output.lastIndexOf('PLAY RECAP')
  for (const line of output.slice(at).split('\n')) {
    const m = /^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)/.exec(line)
    if (m) out[m[1]!] = { ok: Number(m[2]), changed: Number(m[3]), unreachable: Number(m[4]), failed: Number(m[5]), skipped: Number(m[6]) }
  }
  return out
}

/** Every file below dir whose bytes hold `needle`. */
function filesHolding(dir: string, needle: string): string[] {
  if (!existsSync(dir)) return []
  const found: string[] = []
  const bytes = Buffer.from(needle)
  const walk = (path: string) => {
    const stat = lstatSync(path)
    if (stat.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name))
    else if (stat.isFile() && fileContains(path, bytes)) found.push(path)
  }
  walk(dir)
  return found
}

/** `dir` as a .tar.gz whose deflate blocks are stored: GNU tar writes the tar, zlib only frames it. */
async function storedTarGz(dir: string, output: string): Promise<void> {
  const tar = spawn('tar', ['-cf', '-', '-C', dirname(dir), basename(dir)], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise<number | null>((resolve) => tar.once('close', resolve))
  await pipeline(tar.stdout, createGzip({ level: 0 }), createWriteStream(output))
  const code = await exited
  if (code !== 0) throw new Error(`tar -cf of ${dir} exited ${code}`)
}

/** Bytes ansible-playbook -vvv says it PUT (sftp/scp) from `source`: the archive's transfers. */
function bytesPut(output: string, source: string): number {
  let bytes = 0
  for (const m of output.matchAll(/PUT (\S+) TO (\S+)/g)) if (m[1] === source) bytes += statSync(source).size
  return bytes
}

/** Per host, the archive SHA-256 that "Look at the node" read on the node in a -vvv run ('' where it read none). */
function archiveHashedOnNode(output: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const m of output.matchAll(/^ok: \[(\S+)\] => \{\n(?:(?!^\}$)[\s\S])*?^ {4}"stdout": "a=([0-9a-f]*)\\nu=[0-9a-f]*\\nc=/gm)) out[m[1]!] = m[2]!
  return out
}

async function report(dir: string, json = true): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await cliRun(['report', dir, ...(json ? ['--json'] : [])], { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) })
  return { code, stdout, stderr }
}

t.test('a bundle rolled out to three SSH hosts with its own playbooks', { timeout: SUITE_TIMEOUT_MS }, async (t) => {
  if (!need(t, process.getuid?.() === 0, 'root (sshd and the installer run as root)', 'run the suite as root, as CI does')) return
  const tools = ['ansible-playbook', 'ansible-lint', 'ssh', 'ssh-keygen']
  const absentTools = tools.filter((tool) => which(tool) === null)
  if (!need(t, absentTools.length === 0 && existsSync('/usr/sbin/sshd'), [...absentTools, existsSync('/usr/sbin/sshd') ? [] : ['sshd']].join(', '), 'apt-get install -y ansible-core ansible-lint openssh-server')) return
  if (!need(t, debianPartsInstalled(), "Debian's containerd, runc and containernetworking-plugins", 'apt-get install -y containerd runc containernetworking-plugins')) return
  const missing = missingTools().filter((tool) => tool !== 'docker-registry')
  if (!need(t, missing.length === 0, missing.join(', '), 'apt-get install -y umoci skopeo busybox-static')) return
  if (!(await installerFor(t, 'linux/amd64'))) return

  const work = t.testdir()
  let lapAt = performance.now()
  const lap = (what: string) => {
    t.comment(`${what}: ${((performance.now() - lapAt) / 1000).toFixed(1)} s since the previous step`)
    lapAt = performance.now()
  }
  // 1. The bundle, built from the loopback mirror with the pause image carried.
  const artifacts = debianArtifacts()
  const catalog = testCatalog(work, artifacts)
  const mirror = await startMirror()
  t.teardown(() => mirror.close())
  mirror.serveFixtures(artifacts.files)
  const layout = await buildTestImages(join(work, 'images'))
  const pause = join(work, 'pause.oci.tar')
  succeeded(t, await exec('skopeo', ['copy', '--quiet', `oci:${layout}:amd64`, `oci-archive:${pause}:docker.io/kubeedge/pause:3.6`]), 'skopeo copy')
  const built = await buildBundle([
    '--catalog', catalog, '--os', 'ubuntu', '--arch', 'amd64', '--runtime', 'containerd', '--runtime-version', artifacts.versions.containerd,
    '--mirror', mirror.url, '--no-upstream', '--cache-dir', freshArtifactCache(join(work, 'cache')), '--pause-image-archive', pause, '--out', join(work, 'out'),
  ])
  if (!succeeded(t, built, 'edgebundle build')) return
  const archive = join(work, 'out', `${NAME}.tar.gz`)
  lap('bundle built')
  t.comment(`bundle archive: ${(statSync(archive).size / 1024 / 1024).toFixed(1)} MiB`)

  // The controller's copy of the playbooks: the bundle unpacked, as an operator does.
  const controller = join(work, 'controller')
  mkdirSync(controller)
  succeeded(t, await exec('tar', untarArgs(archive, controller)), 'tar -x')
  const bundle = join(controller, NAME)
  const playbooks = join(bundle, 'ansible')
  t.same(readdirSync(playbooks).sort(), ['README.md', 'install.yml', 'inventory.example.ini', 'rollback.yml', 'uninstall.yml'], 'ansible/ holds the playbooks, the example inventory and the README')
  const manifest = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8')) as { files: { path: string }[] }
  const sums = readFileSync(join(bundle, 'SHA256SUMS'), 'utf8')
  for (const name of readdirSync(playbooks)) {
    t.ok(manifest.files.some((f) => f.path === `ansible/${name}`), `manifest.json lists ansible/${name}`)
    t.match(sums, new RegExp(`^[0-9a-f]{64}  ansible/${name.replace(/\./g, '\\.')}$`, 'm'), `SHA256SUMS covers ansible/${name}`)
  }
  t.match(readFileSync(join(playbooks, 'inventory.example.ini'), 'utf8'), `${NAME}.tar.gz`, 'the example inventory names this bundle')

  // 2. ansible-lint on the playbooks, as shipped.
  const lint = await exec('ansible-lint', ['--offline', '--nocolor', 'install.yml', 'rollback.yml', 'uninstall.yml'], { cwd: playbooks, env: { HOME: join(work, 'lint-home') }, timeoutMs: 300_000 })
  succeeded(t, lint, 'ansible-lint passes on the playbooks')
  lap('ansible-lint done')

  // A corrupted copy: same name, one file of the bundle changed after the build (SHA256SUMS no longer agrees).
  // Hard links to the controller's copy (no second unpack); README.md is replaced, not written through the link.
  const corrupt = join(work, 'corrupt')
  mkdirSync(corrupt)
  succeeded(t, await exec('cp', ['-al', bundle, join(corrupt, NAME)]), 'link the bundle for corruption')
  const readme = readFileSync(join(corrupt, NAME, 'README.md'), 'utf8')
  rmSync(join(corrupt, NAME, 'README.md'))
  writeFileSync(join(corrupt, NAME, 'README.md'), `${readme}\ntampered\n`)
  t.notMatch(readFileSync(join(bundle, 'README.md'), 'utf8'), /tampered/, "the controller's copy is untouched")
  const corruptArchive = join(corrupt, `${NAME}.tar.gz`)
  // Stored, not compressed (deflate level 0): only the content matters here, and even gzip -1 costs
  // seconds of CPU on ~160 MB. Any gzip reader takes it; GNU tar -z on the node does.
  await storedTarGz(join(corrupt, NAME), corruptArchive)
  lap('corrupted copy made')

  // 3. Three sshd on 127.0.0.1, key authentication only, with their own host keys and authorized_keys file.
  const ssh = join(work, 'ssh')
  mkdirSync(ssh, { mode: 0o700 })
  chmodSync(ssh, 0o700)
  const clientKey = join(ssh, 'id_ed25519')
  succeeded(t, await exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', clientKey]), 'client key')
  const authorized = join(ssh, 'authorized_keys')
  writeFileSync(authorized, readFileSync(`${clientKey}.pub`), { mode: 0o600 })
  mkdirSync('/run/sshd', { recursive: true })
  const daemons: Daemon[] = []
  t.teardown(async () => {
    for (const daemon of daemons) await daemon.stop()
  })
  const ports: number[] = []
  const homes = join(work, 'homes')
  for (const host of HOSTS) {
    mkdirSync(join(homes, host), { recursive: true, mode: 0o700 })
    const hostKey = join(ssh, `${host}_host_ed25519`)
    succeeded(t, await exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]), `${host} host key`)
    const port = await freePort()
    const config = join(ssh, `${host}.sshd_config`)
    // Its own config: nothing from /etc/ssh, loopback only, keys from our file only.
    writeFileSync(
      config,
      [
        `ListenAddress 127.0.0.1:${port}`,
        `HostKey ${hostKey}`,
        `PidFile ${join(ssh, `${host}.pid`)}`,
        `AuthorizedKeysFile ${authorized}`,
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin prohibit-password',
        'UsePAM no',
        'Subsystem sftp internal-sftp',
        'StrictModes no',
        // A node's own home for root: not this machine's /root, whose shell start-up files (here, pyenv's
        // init) would run on each of the hundreds of SSH commands a run makes, seconds each.
        `SetEnv HOME=${join(homes, host)}`,
        '',
      ].join('\n'),
    )
    const daemon = spawnWatched('/usr/sbin/sshd', ['-D', '-e', '-f', config], join(ssh, `${host}.log`))
    daemons.push(daemon)
    const probe = () => exec('ssh', ['-i', clientKey, '-p', String(port), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', 'root@127.0.0.1', 'true'], { timeoutMs: 10_000 })
    await waitUntil(`sshd for ${host}`, daemon, async () => (await probe()).code === 0)
    ports.push(port)
  }

  lap('three sshd up')
  // Each host: its own root (a node's /etc/os-release in it) and its own remote folder.
  const roots = join(work, 'roots')
  const remotes = join(work, 'remote')
  for (const host of HOSTS) {
    mkdirSync(join(roots, host, 'etc'), { recursive: true })
    writeFileSync(join(roots, host, 'etc', 'os-release'), 'ID=ubuntu\nVERSION_ID="22.04"\n')
  }
  mkdirSync(remotes)
  const inventory = (overrides: Partial<Record<(typeof HOSTS)[number], string>> = {}) => {
    const file = join(work, `inventory-${Object.keys(overrides).join('-') || 'all'}.ini`)
    const lines = ['[edge]']
    HOSTS.forEach((host, index) => {
      lines.push(
        `${host} ansible_host=127.0.0.1 ansible_port=${ports[index]} edgebundle_root=${join(roots, host)} edgebundle_remote_dir=${join(remotes, host)}` +
          (overrides[host] ? ` ${overrides[host]}` : ''),
      )
    })
    // The archive from the inventory, not -e: extra vars would override a host's own.
    lines.push('', '[edge:vars]', `edgebundle_archive=${archive}`, 'ansible_user=root', `ansible_ssh_private_key_file=${clientKey}`, 'ansible_python_interpreter=/usr/bin/python3', '')
    writeFileSync(file, lines.join('\n'))
    return file
  }
  // The token as an operator keeps it: in a vars file given with -e @FILE (vault-encrypted in real life).
  const secrets = join(work, 'secrets.yml')
  writeFileSync(secrets, `edgebundle_token: ${TOKEN}\n`, { mode: 0o600 })
  const reports = join(work, 'reports')
  const ansibleTmp = join(work, 'ansible-tmp')
  // Control sockets need a short path (108 bytes); the kept connections are closed when the test ends.
  const controlDir = mkdtempSync(join(tmpdir(), 'eb-cp-'))
  t.teardown(async () => {
    for (const socket of readdirSync(controlDir)) await exec('ssh', ['-o', `ControlPath=${join(controlDir, socket)}`, '-O', 'exit', 'edgebundle-test'], { timeoutMs: 10_000 })
    rmSync(controlDir, { recursive: true, force: true })
  })
  // The controller's own settings, nothing from /etc/ansible. It polls its workers every 20 ms, not every 1 ms
  // (Ansible's default, a busy loop while a node copies or installs for seconds).
  const ansibleConfig = join(work, 'ansible.cfg')
  writeFileSync(ansibleConfig, '[defaults]\ninternal_poll_interval = 0.02\n')
  const env: NodeJS.ProcessEnv = {
    ANSIBLE_HOST_KEY_CHECKING: 'False',
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_RETRY_FILES_ENABLED: 'False',
    ANSIBLE_LOCAL_TEMP: join(ansibleTmp, 'local'),
    ANSIBLE_REMOTE_TEMP: join(ansibleTmp, 'remote'),
    ANSIBLE_SSH_CONTROL_PATH_DIR: controlDir,
    // Ansible's own defaults (one SSH connection per host, kept) and no known_hosts written on this machine,
    // without -C: compressing an already gzipped archive over loopback only costs CPU (three times ~90 MB).
    ANSIBLE_SSH_ARGS: '-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=/dev/null',
    ANSIBLE_CONFIG: ansibleConfig,
  }
  const outputs: string[] = []
  const playbook = async (name: string, inv: string, extra: string[] = []) => {
    const started = performance.now()
    const result = await exec(
      'ansible-playbook',
      ['-vvv', '-i', inv, join(playbooks, name), '-e', `edgebundle_report_dir=${reports}`, '-e', 'edgebundle_cloudcore=127.0.0.1:10000', '-e', `@${secrets}`, '-e', 'edgebundle_max_fail_percentage=50', ...extra],
      { cwd: work, env, timeoutMs: 600_000 },
    )
    outputs.push(result.stdout, result.stderr)
    lap(`ansible-playbook ${[name, ...extra].join(' ')} done`)
    return { ...result, recap: recapOf(result.stdout), ms: performance.now() - started }
  }
  const trees = () => ({ roots: snapshot(roots), remotes: snapshot(remotes) })
  const readReport = (host: string) => readFileSync(join(reports, `${host}.jsonl`), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, any>)
  const done = (host: string) => readReport(host).find((e) => e.event === 'done')

  // 4. --check on fresh hosts: nothing to dry-run yet, and nothing changes.
  const pristine = trees()
  const freshCheck = await playbook('install.yml', inventory(), ['--check'])
  if (!succeeded(t, freshCheck, 'install.yml --check on fresh hosts')) return
  t.same(trees(), pristine, '--check on fresh hosts changes no byte')
  t.match(freshCheck.stdout, /is not unpacked on this host yet/, 'it says why no dry run ran')

  // 5. The rollout: all three installed.
  const first = await playbook('install.yml', inventory())
  if (!succeeded(t, first, 'install.yml')) return
  for (const host of HOSTS) {
    t.match(first.recap[host], { failed: 0, unreachable: 0 }, `${host}: ok`)
    t.ok(first.recap[host]!.changed > 0, `${host}: changed`)
    t.ok(existsSync(join(roots, host, 'etc/containerd/config.toml')), `${host}: containerd's config is in its root`)
    t.ok(existsSync(join(roots, host, 'var/lib/edgebundle/journal')), `${host}: the installer's journal is in its root`)
    t.ok((done(host)?.changed ?? 0) > 0, `${host}: its report says it changed the node`)
    t.ok(readReport(host).some((e) => e.event === 'join' && e.ran === false && e.command.includes('--token=<token>')), `${host}: the token reached the installer (it printed the join command, token hidden)`)
  }
  const firstArchiveBytes = bytesPut(first.stdout, archive)
  t.equal(firstArchiveBytes, statSync(archive).size * HOSTS.length, 'the first run copies the archive once to each host')
  t.comment(`rollout to ${HOSTS.length} hosts: ${(first.ms / 1000).toFixed(1)} s; archive bytes copied: ${firstArchiveBytes}`)
  const installed = await report(reports)
  t.equal(installed.code, 0, installed.stderr)
  t.match(JSON.parse(installed.stdout), { counts: { installed: 3, unchanged: 0, failed: 0 }, versions: [{ bundle: NAME, kubeedge: '1.23', runtime: 'containerd', hosts: [...HOSTS] }] })

  // 6. A second run: changed=0 everywhere, no archive byte copied.
  const archiveInodes = HOSTS.map((host) => statSync(join(remotes, host, `${NAME}.tar.gz`)).ino)
  const second = await playbook('install.yml', inventory())
  if (!succeeded(t, second, 'install.yml again')) return
  for (const host of HOSTS) {
    t.match(second.recap[host], { changed: 0, failed: 0, unreachable: 0 }, `${host}: changed=0`)
    t.equal(done(host)?.changed, 0, `${host}: the installer changed nothing`)
  }
  // The playbooks pipeline every task: a module goes over the SSH command's stdin, never as an uploaded file.
  for (const [run, output] of [['first', first.stdout], ['second', second.stdout]] as const) t.notMatch(output, /PUT \S+ TO \S+\/AnsiballZ_/, `the ${run} run uploads no module file`)
  // What a node sees of a run that finds the bundle in place: one command that reads, then the installer.
  const commands = HOSTS.map((_, index) => [...second.stdout.matchAll(/SSH: EXEC ssh .*-o Port=(\d+) /g)].filter((m) => m[1] === String(ports[index])).length)
  t.same(commands, HOSTS.map(() => 2), 'a second run makes two SSH commands per host')
  // Each node's bundle came from this archive: the node's ~100 MB copy of it is not even read.
  t.same(archiveHashedOnNode(second.stdout), Object.fromEntries(HOSTS.map((host) => [host, ''])), 'a second run hashes no archive on the nodes')
  const secondArchiveBytes = bytesPut(second.stdout, archive)
  t.equal(secondArchiveBytes, 0, 'no archive byte copied on a second run')
  t.same(HOSTS.map((host) => statSync(join(remotes, host, `${NAME}.tar.gz`)).ino), archiveInodes, "each node's archive is the same file")
  t.comment(`second run: ${(second.ms / 1000).toFixed(1)} s; archive bytes copied: ${secondArchiveBytes}; other files PUT (content copies): ${[...second.stdout.matchAll(/PUT \S+ TO /g)].length}`)
  const unchanged = await report(reports, false)
  t.equal(unchanged.code, 0, unchanged.stderr)
  t.match(unchanged.stdout, /^3 hosts: 0 installed, 3 unchanged, 0 failed/)

  // 7. --check once installed: a dry run on every host, no byte changed.
  const installedTrees = trees()
  const check = await playbook('install.yml', inventory(), ['--check'])
  if (!succeeded(t, check, 'install.yml --check')) return
  t.same(trees(), installedTrees, '--check changes no byte in the roots or the remote folders')
  for (const host of HOSTS) t.match(done(host), { dryRun: true, exitCode: 0 }, `${host}: the installer ran --dry-run`)

  // 8. One host given a corrupted archive: it fails with exit 3, alone, and changes nothing in its root.
  const corrupted = await playbook('install.yml', inventory({ host3: `edgebundle_archive=${corruptArchive}` }))
  t.equal(corrupted.code, 2, 'ansible-playbook exits 2: a host failed')
  t.match(corrupted.recap, { host1: { failed: 0 }, host2: { failed: 0 }, host3: { failed: 1 } }, 'host3 fails, host1 and host2 succeed')
  t.match(corrupted.stdout, /fatal: \[host3\]: FAILED! => \{[^}]*"msg": "exit 3: the bundle in \S+ failed verification \(1 problem\); nothing was changed; mismatch README\.md/, "host3's failure says exit 3 with the installer's message")
  t.same(snapshot(roots), installedTrees.roots, 'no root changed: host3 stopped at verification, the others had nothing to do')
  // host3's bundle is not from the archive it is given now: there, and only there, the node's archive is hashed.
  t.same(archiveHashedOnNode(corrupted.stdout), { host1: '', host2: '', host3: fileDigest(archive) }, "only host3's archive is hashed on its node (and found to differ)")
  const failedReport = await report(reports)
  t.equal(failedReport.code, 1, 'edgebundle report exits 1 when a host failed')
  t.match(JSON.parse(failedReport.stdout), { counts: { unchanged: 2, failed: 1 }, hosts: [{ host: 'host1' }, { host: 'host2' }, { host: 'host3', state: 'failed', exitCode: 3, reason: /^exit 3: .*failed verification.*README\.md/ }] })

  // 8b. edgebundle_max_fail_percentage=0: a host refused at the variable checks stops its batch before any
  // installer runs (the others fail with the reason), and no root changes.
  const stopped = await playbook('install.yml', inventory({ host2: 'edgebundle_root=relative/root' }), ['-e', 'edgebundle_max_fail_percentage=0'])
  t.equal(stopped.code, 2)
  t.match(stopped.recap, { host1: { failed: 1 }, host2: { failed: 1 }, host3: { failed: 1 } }, 'the whole batch stops')
  t.match(stopped.stdout, /edgebundle_root=relative\/root is not allowed/, 'host2 names the bad value')
  t.match(stopped.stdout, /fatal: \[host1\]: FAILED! => \{[^}]*"msg": "1 of 3 hosts of this batch failed, more than edgebundle_max_fail_percentage=0%: the rollout stops here, before installing/)
  t.same(snapshot(roots), installedTrees.roots, 'no root changed')

  // 9. The token: in no file under the roots, the remote folders, the reports, Ansible's temp folders or the nodes' homes, nor in -vvv output.
  const holding = [roots, remotes, reports, ansibleTmp, homes].flatMap((dir) => filesHolding(dir, TOKEN))
  t.same(holding, [], 'the token is in no file')
  t.same(outputs.filter((text) => text.includes(TOKEN)).length, 0, 'the token is in no ansible-playbook -vvv output')
  t.match(first.stdout, /TASK \[Run the installer \(its --dry-run under --check\)\][\s\S]*?"censored": "the output has been hidden due to the fact that 'no_log: true' was specified for this result"/, 'the task that carries the token is no_log')

  // 10. rollback.yml then uninstall.yml: the roots as they were, the remote folders gone.
  const rollback = await playbook('rollback.yml', inventory())
  succeeded(t, rollback, 'rollback.yml')
  for (const host of HOSTS) t.match(rollback.recap[host], { changed: 1, failed: 0 }, `${host}: rolled back`)
  const uninstall = await playbook('uninstall.yml', inventory())
  succeeded(t, uninstall, 'uninstall.yml')
  t.same(snapshot(roots), pristine.roots, 'every root is as it was before the rollout, byte for byte')
  t.same(readdirSync(remotes), [], 'the remote folders are gone')
  t.same([roots, reports, ansibleTmp, homes].flatMap((dir) => filesHolding(dir, TOKEN)), [], 'still no token anywhere')
  t.same(outputs.filter((text) => text.includes(TOKEN)).length, 0, 'nor in any output')
})
