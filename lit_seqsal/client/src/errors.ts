/**
 * Errors from the server, parsed from its answers and worded for a person.
 * No DOM (unit-tested in node).
 *
 * Our server answers every error as JSON:
 *   {"error": {"status": 400, "kind": "bad_request", "message": "...", "request_id": "3f2a9c1b0d4e"}}
 * with an X-Request-Id header (and Retry-After on 429 and 503). A plain LIT
 * server answers "Uncaught error: MESSAGE\n\nDetails: TRACEBACK"; a proxy may
 * answer an HTML page. All three become a ServerError whose message is
 * the server's message alone: never a traceback, never markup.
 */

export interface ServerErrorInfo {
  /** The server's kind of error: bad_request, forbidden, not_found, too_large, busy, ... */
  kind?: string;
  /** The id the server logged this request under (X-Request-Id). */
  requestId?: string;
  /** Seconds the server asks to wait before trying again (Retry-After). */
  retryAfterS?: number;
}

/** An error from the server: its message, HTTP status (0: unreachable) and raw body. */
export class ServerError extends Error {
  readonly kind: string;
  readonly requestId: string;
  readonly retryAfterS?: number;

  constructor(message: string, readonly status: number, readonly details: string, info: ServerErrorInfo = {}) {
    super(message);
    this.name = 'ServerError';
    this.kind = info.kind ?? '';
    this.requestId = info.requestId ?? '';
    this.retryAfterS = info.retryAfterS;
  }
}

/** Work the user (or the client, moving on) cancelled, or the server stopped before it finished. */
export class CancelledError extends Error {
  constructor(message = 'Cancelled.', readonly byUser = true) {
    super(message);
    this.name = 'CancelledError';
  }
}

/** LIT answers errors with "Uncaught error: MESSAGE\n\nDetails: TRACEBACK". */
export function serverErrorMessage(body: string): string {
  const match = body.match(/Uncaught error: ([\s\S]*?)(?:\n\nDetails:|$)/);
  const text = (match ? match[1] : body).trim();
  return text || 'The server returned an error without a message.';
}

/** A message for an answer that carries none we can show (an HTML page from a proxy, say). */
export function statusMessage(status: number): string {
  if (status === 413) return 'The request is over one of the server\'s limits (HTTP 413).';
  if (status === 429) return 'The server is busy (HTTP 429).';
  if (status === 502 || status === 503 || status === 504) {
    return `The server is not available right now (HTTP ${status}).`;
  }
  return `The server answered with an error (HTTP ${status}).`;
}

/** Headers as fetch's Response has them; optional, so that tests may leave them out. */
export interface HeaderSource {
  get(name: string): string | null;
}

function retryAfter(headers?: HeaderSource): number | undefined {
  const value = Number(headers?.get('Retry-After') ?? NaN);
  return Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** The error in a server's answer `body` with HTTP `status`: JSON first, then LIT's text. */
export function parseServerError(status: number, body: string, headers?: HeaderSource): ServerError {
  const headerId = headers?.get('X-Request-Id') ?? undefined;
  const retryAfterS = retryAfter(headers);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  const error = (parsed as {error?: unknown} | undefined)?.error as Record<string, unknown> | undefined;
  if (error && typeof error === 'object' && typeof error['message'] === 'string') {
    return new ServerError(
        error['message'].trim() || statusMessage(status),
        typeof error['status'] === 'number' ? error['status'] : status, body, {
          kind: typeof error['kind'] === 'string' ? error['kind'] : undefined,
          requestId: typeof error['request_id'] === 'string' && error['request_id'] ? error['request_id'] : headerId,
          retryAfterS,
        });
  }
  // An HTML page (a proxy's, or a server's default error page) is not a message.
  const message = /^\s*</.test(body) ? statusMessage(status) : serverErrorMessage(body);
  return new ServerError(message, status, body, {requestId: headerId, retryAfterS});
}

/** A job's error as the server reports it in the job's status. */
export function jobError(error: {status?: number, kind?: string, message?: string, request_id?: string} | undefined,
                         fallback: string): ServerError {
  return new ServerError(error?.message || fallback, error?.status ?? 500, JSON.stringify(error ?? {}), {
    kind: error?.kind, requestId: error?.request_id});
}

function sentence(text: string): string {
  return /[.!?)]$/.test(text) ? text : `${text}.`;
}

/**
 * What to show a person for an error: the server's message, what to do about
 * a busy server, and the request id (to quote to whoever runs the server).
 */
export function errorMessage(e: unknown): string {
  if (e instanceof ServerError) {
    let text = e.message;
    if (e.status === 429 || e.kind === 'busy') {
      const wait = e.retryAfterS ? `in about ${e.retryAfterS} s` : 'in a moment';
      const busy = /busy/i.test(text) ? text : `The server is busy: ${text}`;
      text = /try again|retry/i.test(text) ? busy : `${sentence(busy)} Try again ${wait}.`;
    }
    if (e.requestId && !text.includes(e.requestId)) text = `${text} (request ${e.requestId})`;
    return text;
  }
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}
