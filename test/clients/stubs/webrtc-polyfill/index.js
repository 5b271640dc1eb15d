// Stands in for webrtc-polyfill in test/clients only (an npm "overrides" entry): the real
// one loads node-datachannel's native binary at import time, and that binary comes from a
// GitHub release this CI cannot reach. Exporting no WebRTC classes is what simple-peer sees
// in a runtime without WebRTC, so webtorrent simply has no WebRTC peers; the tests use none
// (no trackers), and nothing here touches the TCP/uTP path under test.
export const RTCPeerConnection = undefined
export const RTCSessionDescription = undefined
export const RTCIceCandidate = undefined
export default { RTCPeerConnection, RTCSessionDescription, RTCIceCandidate }
