/**
 * Just enough protobuf and gRPC for a CRI client (test-only): a field writer, a field reader and
 * unary calls over HTTP/2 on a unix socket. Messages are built by field number, taken from the
 * CRI's api.proto (k8s.io/cri-api runtime/v1, as vendored in Debian's containerd 1.6 source).
 */
import { connect as h2connect, ClientHttp2Session, constants as h2 } from 'node:http2';
import { connect as netConnect } from 'node:net';

/** Writes one message; unset (undefined) and proto3-default values are left out, as proto3 does. */
export class PbWriter {
  private readonly parts: Buffer[] = [];

  private tag(field: number, wire: number): void {
    this.raw(varint(BigInt((field << 3) | wire)));
  }
  private raw(b: Buffer): void {
    this.parts.push(b);
  }
  uint(field: number, v: number | bigint | boolean | undefined): this {
    if (v === undefined || v === 0 || v === 0n || v === false) return this;
    this.tag(field, 0);
    const n = typeof v === 'boolean' ? 1n : BigInt(v);
    // Negative int32/int64 are sent as 64-bit two's complement.
    this.raw(varint(n < 0n ? n + (1n << 64n) : n));
    return this;
  }
  bytes(field: number, v: Buffer | string | undefined): this {
    if (v === undefined || v.length === 0) return this;
    const b = typeof v === 'string' ? Buffer.from(v) : v;
    this.tag(field, 2);
    this.raw(varint(BigInt(b.length)));
    this.raw(b);
    return this;
  }
  strings(field: number, vs: readonly string[] | undefined): this {
    for (const v of vs ?? []) {
      this.tag(field, 2);
      const b = Buffer.from(v);
      this.raw(varint(BigInt(b.length)));
      this.raw(b);
    }
    return this;
  }
  message(field: number, w: PbWriter | undefined): this {
    if (w === undefined) return this;
    const b = w.finish();
    this.tag(field, 2);
    this.raw(varint(BigInt(b.length)));
    this.raw(b);
    return this;
  }
  messages(field: number, ws: readonly PbWriter[]): this {
    for (const w of ws) this.message(field, w);
    return this;
  }
  /** map<string,string>: repeated entries {1: key, 2: value}. */
  map(field: number, m: Record<string, string> | undefined): this {
    for (const [k, v] of Object.entries(m ?? {})) this.message(field, new PbWriter().bytes(1, k).bytes(2, v));
    return this;
  }
  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function varint(n: bigint): Buffer {
  const out: number[] = [];
  let v = n;
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return Buffer.from(out);
}

/** The fields of one decoded message: varints as bigint, length-delimited as Buffer. */
export class PbFields {
  private readonly fields = new Map<number, (bigint | Buffer)[]>();

  constructor(buf: Buffer) {
    let i = 0;
    const readVarint = (): bigint => {
      let result = 0n;
      let shift = 0n;
      for (;;) {
        const b = buf[i++];
        if (b === undefined) throw new Error('truncated protobuf varint');
        result |= BigInt(b & 0x7f) << shift;
        if ((b & 0x80) === 0) return result;
        shift += 7n;
      }
    };
    while (i < buf.length) {
      const key = readVarint();
      const field = Number(key >> 3n);
      const wire = Number(key & 7n);
      let value: bigint | Buffer;
      if (wire === 0) value = readVarint();
      else if (wire === 2) {
        const len = Number(readVarint());
        value = buf.subarray(i, i + len);
        i += len;
      } else if (wire === 1) {
        value = buf.subarray(i, i + 8);
        i += 8;
      } else if (wire === 5) {
        value = buf.subarray(i, i + 4);
        i += 4;
      } else throw new Error(`unsupported protobuf wire type ${wire}`);
      const list = this.fields.get(field) ?? [];
      list.push(value);
      this.fields.set(field, list);
    }
  }

  private last(field: number): bigint | Buffer | undefined {
    const l = this.fields.get(field);
    return l?.[l.length - 1];
  }
  str(field: number): string {
    const v = this.last(field);
    return Buffer.isBuffer(v) ? v.toString('utf8') : '';
  }
  strs(field: number): string[] {
    return (this.fields.get(field) ?? []).filter(Buffer.isBuffer).map((b) => b.toString('utf8'));
  }
  bytes(field: number): Buffer {
    const v = this.last(field);
    return Buffer.isBuffer(v) ? v : Buffer.alloc(0);
  }
  num(field: number): number {
    const v = this.last(field);
    if (typeof v !== 'bigint') return 0;
    // int32 fields carry negative values as 64-bit two's complement.
    return Number(BigInt.asIntN(64, v));
  }
  msg(field: number): PbFields | undefined {
    const v = this.last(field);
    return Buffer.isBuffer(v) ? new PbFields(v) : undefined;
  }
  msgs(field: number): PbFields[] {
    return (this.fields.get(field) ?? []).filter(Buffer.isBuffer).map((b) => new PbFields(b));
  }
  map(field: number): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of this.msgs(field)) out[e.str(1)] = e.str(2);
    return out;
  }
}

export class GrpcError extends Error {
  constructor(
    readonly method: string,
    readonly status: number,
    readonly grpcMessage: string,
  ) {
    super(`${method}: gRPC status ${status}: ${grpcMessage}`);
  }
}

/** Unary gRPC calls to a server on a unix socket (h2c, prior knowledge, as gRPC-Go serves it). */
export class GrpcUnixClient {
  private session: ClientHttp2Session | undefined;

  constructor(private readonly socketPath: string) {}

  private open(): ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const s = h2connect('http://localhost', { createConnection: () => netConnect(this.socketPath) });
    s.on('error', () => undefined);
    this.session = s;
    return s;
  }

  call(method: string, request: Buffer, timeoutMs = 60_000): Promise<PbFields> {
    const session = this.open();
    return new Promise((resolve, reject) => {
      const req = session.request({
        [h2.HTTP2_HEADER_METHOD]: 'POST',
        [h2.HTTP2_HEADER_PATH]: method,
        [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
        te: 'trailers',
        'grpc-timeout': `${timeoutMs}m`,
      });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let message = '';
      const timer = setTimeout(() => {
        req.close(h2.NGHTTP2_CANCEL);
        reject(new Error(`${method}: no answer within ${timeoutMs} ms`));
      }, timeoutMs + 5_000);
      const takeStatus = (h: Record<string, string | string[] | undefined>): void => {
        const s = h['grpc-status'];
        if (typeof s === 'string') status = s;
        const m = h['grpc-message'];
        if (typeof m === 'string') message = decodeURIComponent(m);
      };
      req.on('response', (h) => takeStatus(h));
      req.on('trailers', (h) => takeStatus(h));
      req.on('data', (b: Buffer) => chunks.push(b));
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      req.on('end', () => {
        clearTimeout(timer);
        if (status !== '0') return reject(new GrpcError(method, Number(status ?? -1), message));
        const body = Buffer.concat(chunks);
        if (body.length < 5) return resolve(new PbFields(Buffer.alloc(0)));
        const len = body.readUInt32BE(1);
        resolve(new PbFields(body.subarray(5, 5 + len)));
      });
      const frame = Buffer.alloc(5);
      frame.writeUInt32BE(request.length, 1);
      req.end(Buffer.concat([frame, request]));
    });
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }
}
