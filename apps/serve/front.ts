/**
 * The service's public socket: a TCP listener that relays each connection to the HTTP server
 * (`Deno.serve` on a private Unix socket) and enforces what `Deno.serve` cannot: a **header
 * timeout** (a request's headers must all arrive within `headerMs` of its first byte, else the
 * client gets a 408 and the connection is closed), an **idle timeout** (a connection with no
 * request in progress and no bytes for `idleMs` is closed) and, at shutdown, **closing every
 * connection** once the drain is over, so a stalled client can never keep the process alive.
 * A client that goes away closes its relay at once, so the server sees the disconnect
 * (`request.signal` aborts).
 *
 * The timeouts are checked by one sweep of every connection's deadline, an eighth of the
 * shorter timeout apart (at least 10 ms, at most 1 s): a connection is cut between its timeout
 * and that much later. A timer armed and cleared per request on each connection (twice a
 * request: headers, then idle) was a measured part of a request's CPU at 64 connections.
 *
 * The body timeout is the handler's (`read_body.ts`'s `readBody`), which knows the request's length.
 *
 * @module
 */
import { Data, Effect, type Scope } from "effect";

/** Connection timeouts, in milliseconds. */
export interface Timeouts {
  /** From a request's first byte to the end of its headers. */
  readonly headerMs: number;
  /** From the start of its headers to the end of its body (enforced by the handler). */
  readonly bodyMs: number;
  /** A kept-alive connection with no request in progress is closed after this long. */
  readonly idleMs: number;
}

/** Defaults: 10 s for headers, 30 s for a body, 60 s idle. */
export const DEFAULT_TIMEOUTS: Timeouts = { headerMs: 10_000, bodyMs: 30_000, idleMs: 60_000 };

/** The service could not listen on the address asked for (busy port, bad host name…). */
export class ListenFailed extends Data.TaggedError("ListenFailed")<{
  readonly hostname: string;
  readonly port: number;
  readonly reason: string;
}> {
  /** The error's one-line description (what failed and why). */
  override get message(): string {
    return `Cannot listen on ${this.hostname}:${this.port}: ${this.reason}`;
  }
}

/** One line for why listening failed. */
function listenReason(error: unknown): string {
  if (error instanceof Deno.errors.AddrInUse) {
    return "the port is already in use (choose another --port, or 0 for any free port)";
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return "the address is not one of this machine's";
  }
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  const text = error instanceof Error ? error.message : String(error);
  if (/lookup|resolve|name or service|nodename|invalid/i.test(text)) {
    return `the host name does not resolve to an address (${text.split("\n")[0]})`;
  }
  return text.split("\n")[0]!;
}

/** The public listener and its connections. */
export interface Front {
  /** The address listened on (the port picked when 0 was asked). */
  readonly addr: Deno.NetAddr;
  /** Close the listener: new connections are refused; open ones go on. */
  readonly stopAccepting: () => void;
  /**
   * Drain: close every connection with no request in progress; the others close once their
   * current request is answered.
   */
  readonly closeIdle: () => void;
  /** Close every open connection now. */
  readonly closeAll: () => void;
  /** Open client connections. */
  readonly open: () => number;
}

const CRLF2 = [13, 10, 13, 10];

/** 408 for a client whose headers did not arrive in time. */
const headerTimeoutResponse = (ms: number) => {
  const body = JSON.stringify({
    code: "header_timeout",
    message: `the request's headers did not arrive within ${ms} ms`,
  });
  return new TextEncoder().encode(
    "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n" +
      `content-length: ${body.length}\r\n\r\n${body}`,
  );
};

/**
 * Finds where the server's answers end in the bytes it sends (`Content-Length` framing, which
 * every answer of the service has; an answer without one ends when the connection does).
 */
class AnswerTracker {
  /** The start of an answer's head whose blank line has not come yet (a head split by reads). */
  private pending: Uint8Array | undefined;
  private remaining = 0;
  private inBody = false;
  /** The last answer said `Connection: close` (Deno's server does not close by itself). */
  closeAfter = false;

  /** Take the next bytes; true when an answer ended within them. */
  feed(chunk: Uint8Array): boolean {
    let bytes = chunk;
    if (this.pending !== undefined) {
      bytes = new Uint8Array(this.pending.length + chunk.length);
      bytes.set(this.pending);
      bytes.set(chunk, this.pending.length);
      this.pending = undefined;
    }
    let ended = false;
    let at = 0;
    while (at < bytes.length) {
      if (this.inBody) {
        if (this.remaining < 0) return ended; // until the connection closes
        const take = Math.min(this.remaining, bytes.length - at);
        this.remaining -= take;
        at += take;
        if (this.remaining === 0) {
          this.inBody = false;
          ended = true;
        }
        continue;
      }
      // Only the head's bytes become text: a body's bytes are counted, never decoded.
      const blank = blankLine(bytes, at);
      if (blank < 0) {
        const rest = bytes.slice(at);
        this.pending = rest.length > 65_536 ? rest.slice(-3) : rest;
        return ended;
      }
      const head = latin1(bytes.subarray(at, blank));
      at = blank + 4;
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 200);
      if (status >= 100 && status < 200) continue; // an interim answer: the real one follows
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      this.closeAfter = /\r\nconnection: *close/i.test(head);
      const bodiless = status === 204 || status === 304;
      this.remaining = bodiless ? 0 : length !== null ? Number(length[1]) : -1;
      this.inBody = this.remaining !== 0;
      if (!this.inBody) ended = true;
    }
    return ended;
  }
}

/** Bytes as Latin-1 text (an HTTP head's bytes are ASCII). */
function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    text += String.fromCharCode(...bytes.subarray(i, Math.min(bytes.length, i + 4096)));
  }
  return text;
}

/** Where the first blank line (`\r\n\r\n`) at or after `from` starts; -1 if none. */
function blankLine(bytes: Uint8Array, from: number): number {
  for (
    let i = bytes.indexOf(13, from);
    i >= 0 && i + 3 < bytes.length;
    i = bytes.indexOf(13, i + 1)
  ) {
    if (bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i;
  }
  return -1;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

/**
 * Listen on `hostname:port` and relay every connection to the Unix socket `upstream`; the
 * listener and every connection are closed when the scope closes.
 */
export const openFront = (
  hostname: string,
  port: number,
  upstream: string,
  timeouts: Timeouts,
): Effect.Effect<Front, ListenFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const listener = yield* Effect.acquireRelease(
      Effect.try({
        try: () => Deno.listen({ hostname, port, transport: "tcp" }),
        catch: (error) => new ListenFailed({ hostname, port, reason: listenReason(error) }),
      }),
      (l) => Effect.sync(() => closeQuietly(l)),
    );
    /** Open connections by how to close each: whether a request is in progress on it, and its
     * deadline's check (`expire(now)` acts if the deadline has passed). */
    const connections = new Map<
      () => void,
      { readonly busy: () => boolean; readonly expire: (now: number) => void }
    >();
    let accepting = true;
    let draining = false;

    const relay = async (client: Deno.Conn) => {
      let server: Deno.Conn | undefined;
      let closed = false;
      /** When (`performance.now()`) `onExpiry` runs; Infinity: no deadline. */
      let deadline = Infinity;
      let onExpiry = () => {};
      const close = () => {
        if (closed) return;
        closed = true;
        deadline = Infinity;
        closeQuietly(client);
        if (server !== undefined) closeQuietly(server);
        connections.delete(close);
      };
      const expire = (now: number) => {
        if (now < deadline) return;
        deadline = Infinity;
        onExpiry();
      };
      connections.set(close, { busy: () => state !== "idle", expire });
      const arm = (ms: number, then: () => void) => {
        deadline = ms > 0 ? performance.now() + ms : Infinity;
        onExpiry = then;
      };
      const disarm = () => (deadline = Infinity);
      // States: waiting for a request (idle timer), reading its headers (header timer), the
      // request is with the server (no timer: body timeout and deadline are the handler's).
      let state: "idle" | "headers" | "request" = "idle";
      let matched = 0; // bytes of "\r\n\r\n" matched so far
      let answered = false; // the server has sent bytes since the request began
      const idle = () => arm(timeouts.idleMs, close);
      const headersLate = () => {
        if (answered) return close();
        void writeAll(client, headerTimeoutResponse(timeouts.headerMs)).catch(() => {})
          .finally(close);
      };
      try {
        server = await Deno.connect({ transport: "unix", path: upstream });
      } catch {
        close();
        return;
      }
      if (closed) return close();
      idle();
      const up = server;
      const fromClient = async () => {
        const buffer = new Uint8Array(16 * 1024);
        for (;;) {
          const n = await client.read(buffer);
          if (n === null) return;
          const chunk = buffer.subarray(0, n);
          if (state === "idle") {
            state = "headers";
            answered = false;
            matched = 0;
            arm(timeouts.headerMs, headersLate);
          }
          if (state === "headers") {
            for (let i = 0; i < n; i++) {
              matched = chunk[i] === CRLF2[matched] ? matched + 1 : chunk[i] === 13 ? 1 : 0;
              if (matched === 4) {
                state = "request";
                disarm();
                break;
              }
            }
          }
          await writeAll(up, chunk);
        }
      };
      const answers = new AnswerTracker();
      const fromServer = async () => {
        const buffer = new Uint8Array(16 * 1024);
        for (;;) {
          const n = await up.read(buffer);
          if (n === null) return;
          answered = true;
          const ended = answers.feed(buffer.subarray(0, n));
          await writeAll(client, buffer.subarray(0, n));
          // An answer ends the request; the idle time counts from its last byte. While the
          // service drains, a connection ends with its answer.
          if (ended && answers.closeAfter) return;
          if (ended && state !== "headers") {
            if (draining) return;
            state = "idle";
            idle();
          }
        }
      };
      // Either side ending (or failing) ends the connection: a client that leaves is a
      // disconnect for the server, a server that closes (after `connection: close`) is final.
      await Promise.race([fromClient().catch(() => {}), fromServer().catch(() => {})]);
      close();
    };

    const acceptLoop = async () => {
      for (;;) {
        let conn: Deno.Conn;
        try {
          conn = await listener.accept();
        } catch {
          return; // closed
        }
        if (!accepting) {
          closeQuietly(conn);
          continue;
        }
        void relay(conn);
      }
    };
    void acceptLoop();

    // Timeouts of 0 are off; with both off, a sweep a second finds nothing to do.
    const shortest = Math.min(...[timeouts.headerMs, timeouts.idleMs].filter((ms) => ms > 0), 8000);
    const sweepMs = Math.min(1000, Math.max(10, shortest / 8));
    const sweep = setInterval(() => {
      const now = performance.now();
      for (const connection of [...connections.values()]) connection.expire(now);
    }, sweepMs);
    const closeAll = () => [...connections.keys()].forEach((close) => close());
    const closeIdle = () => {
      draining = true;
      [...connections].forEach(([close, { busy }]) => {
        if (!busy()) close();
      });
    };
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        clearInterval(sweep);
        closeAll();
      })
    );
    const front: Front = {
      addr: listener.addr as Deno.NetAddr,
      stopAccepting: () => {
        accepting = false;
        closeQuietly(listener);
      },
      closeIdle,
      closeAll,
      open: () => connections.size,
    };
    return front;
  });

function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // already closed
  }
}
