// Minimal typings for utp-native v2 (libutp bindings, CommonJS), covering only
// what test/interop/libutp.test.ts and bench/throughput.ts use. One UTP object
// is both the UDP socket and the server: createServer() returns it, and every
// client connection keeps a one-off one in `_utp`. Connections are
// readable-stream v3 Duplexes, close enough to node:stream to type them so.
declare module 'utp-native' {
  import type { EventEmitter } from 'node:events';
  import type { Duplex } from 'node:stream';

  namespace utp {
    interface Connection extends Duplex {
      readonly remoteAddress: string;
      readonly remotePort: number;
      /** The UTP socket this connection runs on (one-off for connect()). */
      readonly _utp: UTP;
    }

    interface UTP extends EventEmitter {
      listen(port?: number, host?: string, onListening?: () => void): void;
      address(): { address: string; family: string; port: number };
      close(onClose?: () => void): void;
      connect(port: number, host?: string): Connection;
      // Kernel SO_RCVBUF / SO_SNDBUF of the UDP socket; they throw unless the
      // socket is already bound (listen() or connect() bind synchronously).
      setRecvBufferSize(bytes: number): number;
      setSendBufferSize(bytes: number): number;
      getRecvBufferSize(): number;
      getSendBufferSize(): number;
    }
  }

  const utp: {
    createServer(onConnection?: (conn: utp.Connection) => void): utp.UTP;
    connect(port: number, host?: string): utp.Connection;
  };
  export = utp;
}
