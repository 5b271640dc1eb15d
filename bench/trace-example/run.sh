#!/bin/sh
# A traced µTP transfer through a bottleneck: three network namespaces (sender - router -
# receiver, 10.79.0.0/16), a tbf on the router's interface toward the receiver, a qlog file on
# each side, and the sender's trace drawn with `microtp plot`. Needs root (ip netns, tc).
#   sh bench/trace-example/run.sh [rate_mbit=20] [queue_ms=150] [MiB=24] [outdir=/tmp/utptr]
# (build first: npm run build:all). Leaves nothing behind: the namespaces go at the end.
set -eu
RATE=${1:-20}; QUEUE_MS=${2:-150}; MIB=${3:-24}; OUT=${4:-/tmp/utptr}
S=utptr-snd; R=utptr-rtr; D=utptr-rcv
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cleanup() { for ns in $S $R $D; do ip netns del $ns 2>/dev/null || true; done; }
trap cleanup EXIT
cleanup
for ns in $S $R $D; do ip netns add $ns; ip -n $ns link set lo up; done
ip -n $S link add utr-s type veth peer name utr-rs netns $R
ip -n $R link add utr-rr type veth peer name utr-r netns $D
ip -n $S addr add 10.79.1.1/24 dev utr-s; ip -n $R addr add 10.79.1.2/24 dev utr-rs
ip -n $R addr add 10.79.2.2/24 dev utr-rr; ip -n $D addr add 10.79.2.1/24 dev utr-r
ip -n $S link set utr-s up; ip -n $R link set utr-rs up; ip -n $R link set utr-rr up; ip -n $D link set utr-r up
ip -n $S route add default via 10.79.1.2; ip -n $D route add default via 10.79.2.2
ip netns exec $R sysctl -q -w net.ipv4.ip_forward=1
# tbf: RATE Mbit/s, a queue of QUEUE_MS at that rate, a 4 ms bucket (two frames at least).
LIMIT=$((RATE * 125 * QUEUE_MS)); BURST=$((RATE * 500)); [ $BURST -lt 3028 ] && BURST=3028
ip netns exec $R tc qdisc replace dev utr-rr root tbf rate ${RATE}mbit burst $BURST limit $LIMIT
rm -rf "$OUT"; mkdir -p "$OUT"
MICROTP_QLOG="$OUT" ip netns exec $D node "$ROOT/build/bench/trace-example/transfer.js" receiver 10.79.2.1 6881 &
RECEIVER=$!
sleep 1
MICROTP_QLOG="$OUT" ip netns exec $S node "$ROOT/build/bench/trace-example/transfer.js" sender 10.79.2.1 6881 "$MIB"
wait $RECEIVER
ip netns exec $R tc -s qdisc show dev utr-rr | sed -n '1,3p'
for trace in "$OUT"/*_client_*.sqlog; do
  node -e "import('$ROOT/dist/cli/commands/plot.js').then(async (m) => { process.exitCode = await m.default.run(process.argv.slice(1)); })" "$trace" -o "$OUT/bottleneck-${RATE}mbit-${QUEUE_MS}ms.svg" --title "microtp through a ${RATE} Mbit/s bottleneck with a ${QUEUE_MS} ms queue (tbf), sender side"
done
ls -la "$OUT"
