/**
 * A CRI runtime that answers ListPodSandbox only (test-only module): an HTTP/2 server on a unix
 * socket serving runtime.v1's RuntimeService/ListPodSandbox with the sandboxes it is told to
 * have, as containerd's CRI does after a pod was removed behind its back. Other methods get
 * gRPC UNIMPLEMENTED. The protobuf is written by hand (ListPodSandboxResponse.items = 1,
 * PodSandbox.id = 1, .state = 3), as lib/cri/client.ts reads it.
 */
import { createServer, type Http2Server } from 'node:http2';

const varint = (n: number): number[] => {
  const out: number[] = [];
  for (let v = n; ; v = Math.floor(v / 128)) {
    if (v < 128) {
      out.push(v);
      return out;
    }
    out.push((v % 128) | 0x80);
  }
};

/** A length-delimited field. */
const field = (no: number, bytes: Uint8Array): Buffer =>
  Buffer.concat([Buffer.from([...varint((no << 3) | 2), ...varint(bytes.length)]), bytes]);

export function listPodSandboxResponse(ids: readonly string[]): Buffer {
  return Buffer.concat(
    ids.map((id) => field(1, Buffer.concat([field(1, Buffer.from(id)), Buffer.from([(3 << 3) | 0, 0])]))),
  );
}

export class FakeCri {
  /** The sandboxes it lists (SANDBOX_READY), changeable between calls. */
  sandboxes: string[] = [];
  /** How many ListPodSandbox calls it answered. */
  calls = 0;

  private constructor(
    readonly socket: string,
    private readonly server: Http2Server,
  ) {}

  static async start(socket: string): Promise<FakeCri> {
    const server = createServer();
    const cri = new FakeCri(socket, server);
    server.on('stream', (stream, headers) => {
      stream.on('error', () => undefined);
      stream.resume(); // the (empty) request message
      stream.on('end', () => {
        if (headers[':path'] !== '/runtime.v1.RuntimeService/ListPodSandbox') {
          stream.respond(
            { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' },
            { endStream: true },
          );
          return;
        }
        cri.calls++;
        const body = listPodSandboxResponse(cri.sandboxes);
        const frame = Buffer.alloc(5 + body.length);
        frame.writeUInt32BE(body.length, 1);
        body.copy(frame, 5);
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(frame);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, () => resolve());
    });
    return cri;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
