// Minimal typings for bittorrent-dht 11 (ESM), covering only what test/interop/dht.test.ts uses.
// `socket` is handed down through k-rpc to k-rpc-socket, which uses it instead of creating a
// dgram socket: it calls send(buf, offset, len, port, host, cb), bind(), address(), close() and
// listens for 'message', 'error' and 'listening'.
declare module 'bittorrent-dht' {
  import { EventEmitter } from 'node:events';

  namespace DHT {
    interface Peer {
      host: string;
      port: number;
    }
    interface Options {
      /** Bootstrap nodes as 'host:port' strings or { host, port }; false for none. */
      bootstrap?: false | (string | Peer)[];
      socket?: unknown;
      nodeId?: Buffer;
      /** Query timeout of k-rpc-socket in ms. */
      timeout?: number;
    }
  }

  class DHT extends EventEmitter {
    constructor(options?: DHT.Options);
    readonly ready: boolean;
    readonly nodeId: Buffer;
    listen(port?: number, host?: string | (() => void), onListening?: () => void): void;
    address(): { address: string; family: string; port: number };
    addNode(node: { host: string; port: number; id?: Buffer }): void;
    toJSON(): { nodes: { host: string; port: number }[] };
    /** Announces port (0: implied, the DHT socket's source port) after a lookup. */
    announce(infoHash: Buffer | string, port: number, callback?: (error: Error | null) => void): void;
    announce(infoHash: Buffer | string, callback?: (error: Error | null) => void): void;
    /** Emits 'peer' (peer, infoHash, from) for each peer found. */
    lookup(infoHash: Buffer | string, callback?: (error: Error | null, nodesQueried?: number) => void): () => void;
    destroy(callback?: () => void): void;
  }

  export = DHT;
}
