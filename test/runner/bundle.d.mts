/** Types for bundle.mjs, which stays JavaScript: it is what loads the TypeScript. */
export declare const ROOT: string
export declare const CACHE: string
export declare function bundlePath(entry: string): string
export declare function freshBundle(entry: string): string | null
export declare function bundleEntries(entries: string[]): Promise<void>
