/** The edgebundle version, replaced at bundle time by esbuild's define; read from package.json under tsx. */
declare const EDGEBUNDLE_VERSION: string | undefined
export const VERSION: string = typeof EDGEBUNDLE_VERSION === 'string' ? EDGEBUNDLE_VERSION : '0.0.0-dev'
