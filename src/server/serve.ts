/** Running a server on Node with @hono/node-server, and stopping it gracefully. */
import type { AddressInfo } from "node:net";
import { serve as nodeServe, type ServerType } from "@hono/node-server";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import { servedByNode, type StepwiseServer } from "./app.js";

/** Options of {@link serve}. */
export interface ServeOptions {
  /** Port to listen on (0 for any free one). Default 3000. */
  port?: number;
  /** Interface to listen on. Default `127.0.0.1`; `0.0.0.0` to accept other hosts. */
  hostname?: string;
  /** Seconds live runs get to finish on close before they are suspended (default 10). */
  graceSeconds?: number;
  /** Close on SIGTERM and SIGINT (default false; `stepwise serve` sets it). */
  handleSignals?: boolean;
}

/** A server listening on a port. */
export interface RunningServer {
  /** The Node HTTP server. */
  readonly server: ServerType;
  /** The port it listens on. */
  readonly port: number;
  /** `http://host:port`. */
  readonly url: string;
  /** Stop accepting requests, let live runs finish for the grace period, suspend the rest, close every connection. */
  close(): Promise<void>;
  /** Settles once the server has closed (by `close()` or a signal). */
  readonly closed: Promise<void>;
}

/**
 * Listen on a port with `app` (from `createServer`). Resolves once it listens.
 * @example
 * const { url, close } = await serve(createServer({ workflows: { hello: new Hello() } }), { port: 8080 });
 */
export async function serve(app: StepwiseServer, options: ServeOptions = {}): Promise<RunningServer> {
  const hostname = options.hostname ?? "127.0.0.1";
  servedByNode(app, RESPONSE_ALREADY_SENT);
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = nodeServe({ fetch: app.fetch, port: options.port ?? 3000, hostname }, () => resolve(s));
    s.once("error", reject);
  });
  const port = (server.address() as AddressInfo).port;
  // Stored runs are resumed before the server counts as up, so their streams are live at once.
  await app.ready;
  let closing: Promise<void> | undefined;
  let onClosed!: () => void;
  const closed = new Promise<void>((r) => (onClosed = r));
  const close = () =>
    (closing ??= (async () => {
      const stopped = new Promise<void>((r) => server.close(() => r()));
      await app.shutdown(options.graceSeconds ?? 10);
      // Open event streams never end by themselves: their clients reconnect elsewhere with Last-Event-ID.
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      await stopped;
      if (options.handleSignals) for (const sig of ["SIGTERM", "SIGINT"] as const) process.off(sig, onSignal);
      onClosed();
    })());
  const onSignal = () => void close();
  if (options.handleSignals) for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, onSignal);
  return { server, port, url: `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`, close, closed };
}
