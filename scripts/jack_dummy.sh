# Source this file: start_jack_dummy RATE PERIOD starts a private JACK server with the dummy
# driver (a real, clocked duplex stream without a sound card) and exports JACK_DEFAULT_SERVER so
# PortAudio and JACK clients started afterwards use it; stop_jack_dummy stops it by PID.
start_jack_dummy() {
  local rate="${1:-44100}" period="${2:-256}" rt=(--no-realtime)
  export JACK_NO_START_SERVER=1 JACK_NO_AUDIO_RESERVATION=1 JACK_DEFAULT_SERVER="unsing$$"
  # Capture ports: 3 (a song on two, the singer's microphone on the third).
  # Real-time scheduling gives far fewer xruns where the kernel allows it.
  if chrt -f 10 true 2>/dev/null; then rt=(-R -P 70); fi
  jackd -n "$JACK_DEFAULT_SERVER" "${rt[@]}" -d dummy -r "$rate" -p "$period" -C 3 -P 2 \
    >"${TMPDIR:-/tmp}/unsing-jackd-$$.log" 2>&1 &
  JACKD_PID=$!
  local tries=0
  until jack_lsp >/dev/null 2>&1; do
    tries=$((tries + 1))
    if (( tries > 100 )) || ! kill -0 "$JACKD_PID" 2>/dev/null; then
      echo "unsing: the JACK dummy server did not start:" >&2
      cat "${TMPDIR:-/tmp}/unsing-jackd-$$.log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "unsing: JACK dummy server '$JACK_DEFAULT_SERVER' running (pid $JACKD_PID, ${rate} Hz, period $period)"
}

stop_jack_dummy() {
  if [ -n "${JACKD_PID:-}" ] && kill -0 "$JACKD_PID" 2>/dev/null; then
    kill -TERM "$JACKD_PID"
    wait "$JACKD_PID" 2>/dev/null || true
  fi
  JACKD_PID=""
}
