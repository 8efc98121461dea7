/**
 * plan.json: the ordered install steps for one bundle, the single source of truth that the installer
 * executable and install.sh carry out (install.ps1 only verifies a Windows bundle and starts the executable). Plain JSON data; bump PLAN_SCHEMA_VERSION on any
 * incompatible change.
 *
 * Paths: `dest`/`path` fields are absolute node paths (POSIX for Linux bundles, C:\… for Windows);
 * `file`/`source` fields are relative to the bundle root (artifacts/…, config/…, packages/…).
 * Under `--root DIR` every node path is taken relative to DIR.
 */
import type { CgroupDriver, RuntimeName, RuntimeSource, Target, TargetOptions } from './target.js'

export const PLAN_SCHEMA_VERSION = 1

export type Severity = 'error' | 'warning'

/** Node checks made before anything changes. Each kind is implemented by every plan consumer. */
export type Check =
  | { kind: 'os-release'; severity: Severity; ids: string[] }
  | { kind: 'arch'; severity: Severity; machines: string[] }
  | { kind: 'root'; severity: Severity }
  | { kind: 'init-system'; severity: Severity; expect: 'systemd' }
  | { kind: 'cgroup'; severity: Severity; driver: CgroupDriver }
  | { kind: 'kernel-module'; severity: Severity; module: string }
  | { kind: 'port-free'; severity: Severity; port: number; reason: string }
  | { kind: 'command'; severity: Severity; command: string; reason: string }
  | { kind: 'service-inactive'; severity: Severity; service: string; reason: string }
  | { kind: 'runtime-absent'; severity: Severity; runtime: string; socket: string; reason: string }
  | { kind: 'windows-feature'; severity: Severity; feature: string }

export type CheckKind = Check['kind']

interface StepBase {
  /** Unique within the plan, stable across builds: journal and logs refer to it. */
  id: string
  description: string
}

export type Step =
  | (StepBase & { kind: 'preflight'; checks: Check[] })
  | (StepBase & { kind: 'install-archive'; component: string; file: string; format: 'tar.gz' | 'tar.zst' | 'zip'; dest: string; strip: number })
  | (StepBase & { kind: 'install-binary'; component: string; file: string; dest: string })
  | (StepBase & {
      kind: 'run-upstream-installer'
      component: string
      file: string
      format: 'tar.gz'
      subdir: string
      script: string
      interpreter: 'bash' | 'sh'
    })
  | (StepBase & { kind: 'install-packages'; manager: 'dpkg' | 'rpm'; files: string[] })
  /**
   * merge: the node's existing file is merged with this one rather than replaced (where the installer can:
   * the executable does; install.sh replaces it, keeping the backup).
   */
  | (StepBase & { kind: 'write-file'; source: string; dest: string; mode: string; merge?: 'json' | 'toml' })
  | (StepBase & { kind: 'symlink'; path: string; target: string })
  | (StepBase & { kind: 'load-kernel-modules'; modules: string[] })
  | (StepBase & { kind: 'apply-sysctl'; file: string })
  /** restartWhenChanged: node paths (files or folders); a change at or under any of them restarts the service. */
  | (StepBase & { kind: 'enable-service'; service: string; restartWhenChanged: string[] })
  | (StepBase & { kind: 'register-windows-service'; service: string; binary: string; args: string[]; restartWhenChanged: string[] })
  | (StepBase & {
      kind: 'run-container'
      engine: 'docker'
      name: string
      image: string
      /** false: run to completion first (node preparation); true: keep running, restarted by the engine. */
      detach: boolean
      privileged: boolean
      hostNamespaces: boolean
      mounts: { source: string; target: string; readOnly: boolean; propagation?: 'rshared' }[]
      env: Record<string, string>
      command: string[]
      createDirs: string[]
    })
  /**
   * Loads a bundled image into the runtime's own store, so the node never pulls it. `image` is the name every
   * config uses; `tool` is the runtime's loader; `address` is the runtime's socket or pipe for that tool.
   */
  | (StepBase & {
      kind: 'import-image'
      file: string
      image: string
      tool: 'ctr' | 'docker' | 'isula' | 'podman'
      address: string
    })
  | (StepBase & { kind: 'check-runtime'; endpoint: string; sandboxImage: string; crictl: boolean })

export type StepKind = Step['kind']
export type StepOf<K extends StepKind> = Extract<Step, { kind: K }>

export interface PlanComponent {
  id: string
  version: string
  file: string
  url: string
  sha256: string | null
}

export interface PlanFile {
  /** Bundle-relative: config/etc/containerd/config.toml */
  source: string
  /** Node path: /etc/containerd/config.toml */
  dest: string
  mode: string
}

export interface Plan {
  schemaVersion: typeof PLAN_SCHEMA_VERSION
  name: string
  target: Target
  options: TargetOptions
  runtime: {
    name: RuntimeName
    version: string
    source: RuntimeSource
    endpoint: string
    base?: { name: RuntimeName; version: string }
  }
  kubeedge: {
    version: string
    /** The released patch (e.g. "1.23.1") keadm join is pinned to with --kubeedge-version=v<release>. */
    release: string
    /** The images keadm join asks the runtime for, as keadm names them (before docker.io/ normalization). */
    images: string[]
    /** The keadm join flags this bundle needs, without --cloudcore-ipport and --token (given at install time). */
    keadmJoinArgs: string[]
    /** The modules.edged fragment of edgecore.yaml for binary installs. */
    edged: Record<string, unknown>
    /**
     * Keys keadm join cannot set at this version (the sandbox image before keadm has --set): after a
     * successful join the installer writes each value at its key path into the edgecore.yaml keadm wrote
     * (the rest of the file kept), then restarts edgecore. null (or absent, in older plans): nothing to write.
     */
    edgecoreConfig?: { path: string; set: { key: string[]; value: string }[] } | null
    /** Node path of the keadm the bundle installs, run by that path (keadm.exe on Windows, not on PATH). Absent: keadm from PATH. */
    keadm?: string
    /**
     * Release files keadm join reads instead of downloading them (Windows: the edgecore tarball and its
     * checksum file in C:\etc\kubeedge\): node paths, and the digest keadm compares the checksum file with.
     */
    joinFiles?: { path: string; checksumPath: string; algorithm: 'sha512' }[]
  }
  components: PlanComponent[]
  files: PlanFile[]
  warnings: string[]
  steps: Step[]
}
