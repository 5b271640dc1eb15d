// Minimal typings for bittorrent-protocol v5 (webtorrent's peer wire), covering
// only what test/interop/bt-wire.ts uses. The Wire is a streamx Duplex, not a
// node:stream Duplex, so it is typed here by the few stream methods we call.
declare module 'bittorrent-protocol' {
  interface BitField {
    get(index: number): boolean
  }

  interface HandshakeExtensions {
    dht: boolean
    fast: boolean
    extended: boolean
  }

  type BlockCallback = (err: Error | null, block?: Uint8Array) => void

  export default class Wire {
    constructor(type?: string, peEnabled?: number)

    readonly peerChoking: boolean
    readonly amChoking: boolean
    readonly peerInterested: boolean
    readonly amInterested: boolean
    readonly peerPieces: BitField
    readonly destroyed: boolean
    uploaded: number
    downloaded: number

    handshake(infoHash: string | Uint8Array, peerId: string | Uint8Array, extensions?: Partial<HandshakeExtensions>): void
    bitfield(bitfield: Uint8Array): void
    have(index: number): void
    interested(): void
    uninterested(): void
    choke(): void
    unchoke(): void
    request(index: number, offset: number, length: number, cb: (err: Error | null, block: Uint8Array | null) => void): void
    setTimeout(ms: number, unref?: boolean): void

    // streamx Duplex surface
    write(data: Uint8Array): boolean
    end(): void
    destroy(err?: Error): void
    pause(): this
    resume(): this

    on(event: 'handshake', listener: (infoHash: string, peerId: string, extensions: HandshakeExtensions) => void): this
    on(event: 'bitfield', listener: (bitfield: BitField) => void): this
    on(event: 'have', listener: (index: number) => void): this
    on(event: 'have-all' | 'have-none' | 'choke' | 'unchoke' | 'interested' | 'uninterested' | 'timeout' | 'drain' | 'end' | 'finish' | 'close', listener: () => void): this
    on(event: 'request', listener: (index: number, offset: number, length: number, respond: BlockCallback) => void): this
    on(event: 'data', listener: (chunk: Uint8Array) => void): this
    on(event: 'error', listener: (err: Error) => void): this
    once(event: 'drain' | 'close', listener: () => void): this
  }
}
