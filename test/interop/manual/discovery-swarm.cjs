// Manual check, not part of `npm test`: the real discovery-swarm 6.1.0 (dat) on microtp with
// utp-native aliased to it, no code changed. discovery-swarm pulls ~90 packages (bittorrent-dht 7,
// dns-discovery, multicast-dns...), too many for a devDependency; test/interop/dht.test.ts
// reproduces its wiring (utp() listens, then bittorrent-dht gets the bound socket) instead.
//
//   mkdir /tmp/ds && cd /tmp/ds && npm init -y >/dev/null
//   npm install --omit=optional --ignore-scripts discovery-swarm@6.1.0
//   ln -s /path/to/microtp node_modules/utp-native     # or .../node_modules/utp-native for libutp
//   cp /path/to/microtp/test/interop/manual/discovery-swarm.cjs . && node discovery-swarm.cjs
//
// Two swarms, µTP only (tcp: false, dns: false), a local DHT seed; 'a' announces, 'b' looks up
// every 300 ms (announce-only swarms each look up once, before the other announced). Each side
// sends 512 KiB on the connection it gets and checks what it receives. Exit 0 when both
// directions are verified and everything closed.
// Result 2026-11-22: microtp passes (~0.4 s); the real utp-native transfers too but its
// swarm.destroy() never calls back (exit 1 on the 8 s timer).
const DHT = require('bittorrent-dht')
const swarm = require('discovery-swarm')
const crypto = require('crypto')
const t0 = Date.now()
const log = (...a) => console.log(`[${Date.now() - t0} ms]`, ...a)
const seed = new DHT({ bootstrap: false })
seed.listen(0, '127.0.0.1', () => {
  const boot = ['127.0.0.1:' + seed.address().port]
  const mk = (name) => {
    const sw = swarm({ tcp: false, dns: false, dht: { bootstrap: boot, interval: 300 }, utp: true })
    sw.on('error', (e) => log(name, 'error', e.message))
    sw.listen(0)
    return sw
  }
  const a = mk('a'), b = mk('b')
  const payload = crypto.randomBytes(512 * 1024)
  let done = 0
  const finish = () => {
    if (++done < 2) return
    log('both directions verified; closing')
    a.destroy(() => b.destroy(() => seed.destroy(() => log('all closed'))))
  }
  for (const [name, sw] of [['a', a], ['b', b]]) {
    sw.once('connection', (conn, info) => {
      log(name, 'connection', info.type, info.host + ':' + info.port, 'initiator', info.initiator)
      const chunks = []
      let got = 0
      conn.on('data', (d) => {
        chunks.push(d); got += d.length
        if (got === payload.length) {
          log(name, 'received', got, 'bytes, equal:', Buffer.concat(chunks).equals(payload))
          finish()
        }
      })
      conn.write(payload)
    })
  }
  a.on('listening', () => { log('a listening', a.address()); a.join('microtp-dht-channel', { announce: true }) })
  b.on('listening', () => { log('b listening', b.address()); b.join('microtp-dht-channel', { announce: false }) })
})
setTimeout(() => { console.log('TIMEOUT'); process.exit(1) }, 8000).unref()
