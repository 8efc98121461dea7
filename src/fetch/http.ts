/**
 * The fetcher's way to the network: the builder's one HTTP client (src/io/http.ts). The core takes an
 * `Http` so tests hand it a client aimed at a server on 127.0.0.1, and --offline hands it one that
 * refuses to connect at all: "never opens a connection" is enforced here, not merely by the core not asking.
 */
import { OfflineViolationError } from './errors.js'
import type { Http } from '../io/http.js'

export {
  createHttpClient,
  HttpError,
  type Http,
  type HttpClient,
  type HttpClientOptions,
  type HttpGetOptions,
  type HttpResponse,
} from '../io/http.js'

/** The client for --offline: every request is refused before any socket exists. */
export function offlineHttp(): Http {
  return {
    get(url) {
      return Promise.reject(new OfflineViolationError(url))
    },
  }
}
