// Minimal typings for udx-native v1 (Holepunch UDX, CommonJS), covering only
// what bench/throughput.ts uses. (utp-native's typings live in
// test/types/utp-native.d.ts; tsconfig.all.json compiles both trees together.)
// UDX has no handshake: each side creates a stream with its own id and
// connect()s it to the peer's id, port and host. Streams are streamx Duplexes,
// typed here by the few methods the bench calls.
declare module 'udx-native' {
  namespace UDX {
    interface Socket {
      bind(port?: number, host?: string): void;
      address(): { host: string; family: number; port: number };
      close(): Promise<void>;
    }

    interface StreamOptions {
      /** Called for packets to this stream id while it is unconnected;
       *  return false to accept them (typically after connect()ing back). */
      firewall?: (socket: Socket, port: number, host: string) => boolean;
    }

    interface Stream {
      connect(socket: Socket, remoteId: number, port: number, host?: string): void;
      write(chunk: Uint8Array): boolean;
      end(): void;
      destroy(err?: Error): void;
      on(event: 'data', listener: (chunk: Buffer) => void): this;
      on(event: 'drain' | 'end' | 'close', listener: () => void): this;
      on(event: 'error', listener: (err: Error) => void): this;
      once(event: 'drain' | 'end' | 'close', listener: () => void): this;
    }
  }

  class UDX {
    createSocket(): UDX.Socket;
    createStream(id: number, opts?: UDX.StreamOptions): UDX.Stream;
  }
  export = UDX;
}
