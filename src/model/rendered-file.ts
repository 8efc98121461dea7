/** A file the renderers make for a node: the planner turns each into a write-file step. */
export interface RenderedFile {
  /** Absolute node path. */
  dest: string
  content: string
  mode: '0644' | '0600' | '0755'
  /** How the content is structured: the installer merges and tests parse by it. */
  format: 'toml' | 'json' | 'yaml' | 'text'
  /** Services to restart when this file changes. */
  restarts: string[]
  /** The runtime's main config: merged into the node's existing one rather than replacing it. */
  merge?: 'json' | 'toml'
  /** One line for README and `plan` output. */
  purpose: string
}
