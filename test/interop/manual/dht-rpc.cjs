// Manual check, not part of `npm test`: dht-rpc 4.9.6 (the DHT of hyperswarm 2.x, through
// @hyperswarm/dht 3 and @hyperswarm/discovery, which get @hyperswarm/network's utp() socket) on
// utp() sockets that also carry µTP, with utp-native aliased to microtp. dht-rpc calls
// socket.send(buf, 0, len, port, host) without a callback and escalates only EADDRINUSE, EPERM and
// EACCES 'error's from the socket (to a DHT 'error' nobody listens to); microtp's compat layer
// emits none of those from send() (dgram drops kernel send errors without a callback).
//
//   mkdir /tmp/dhtrpc && cd /tmp/dhtrpc && npm init -y >/dev/null
//   npm install --ignore-scripts dht-rpc@4.9.6
//   ln -s /path/to/microtp node_modules/utp-native     # or .../node_modules/utp-native for libutp
//   cp /path/to/microtp/test/interop/manual/dht-rpc.cjs . && node dht-rpc.cjs
//
// A plain-dgram bootstrap node and two nodes on utp(): A stores a value, B finds it, then B opens
// µTP to A's DHT port and gets 256 KiB echoed. Result 2026-11-22: passes on microtp and libutp.
const utp = require('utp-native')
const dht = require('dht-rpc')
const crypto = require('crypto')
const values = new Map()
const cmd = {
  update (query, cb) { values.set(query.target.toString('hex'), query.value); cb(null) },
  query (query, cb) { cb(null, values.get(query.target.toString('hex'))) }
}
const boot = dht({ ephemeral: false })
boot.command('values', cmd)
boot.listen(0, '127.0.0.1', () => {
  const bootstrap = ['127.0.0.1:' + boot.address().port]
  const mk = (cb) => { const s = utp(); s.on('connection', (c) => c.pipe(c)); s.listen(0, '127.0.0.1', () => { const n = dht({ socket: s, bootstrap, ephemeral: false }); n.command('values', cmd); n.once('ready', () => cb(n, s)) }) }
  mk((a, sa) => mk((b, sb) => {
    const target = crypto.randomBytes(32)
    a.update('values', target, Buffer.from('port:' + sa.address().port), (err) => {
      if (err) throw err
      b.query('values', target).on('data', (d) => d.value && console.log('b got', d.value.toString())).on('end', () => {
        const c = sb.connect(sa.address().port, '127.0.0.1')
        const payload = crypto.randomBytes(256 * 1024); const got = []
        c.on('data', (x) => got.push(x)).on('end', () => { console.log('µTP echo equal', Buffer.concat(got).equals(payload)); a.destroy(); b.destroy(); boot.destroy() })
        c.end(payload)
      })
    })
  }))
})
setTimeout(() => { console.log('TIMEOUT'); process.exit(1) }, 15000).unref()
