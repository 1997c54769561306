#!/usr/bin/env bash
# Container start: prompts, configuration, Redis, Asterisk, then the FastAGI service, the queue
# watcher and (when configured) speech recognition and the callback worker.
# If Asterisk or the service stops, the container stops (tini reaps and forwards signals).
set -euo pipefail

ivr prompts build
if ! compgen -G "$NU_SOUNDS_DIR/moh/*.wav" >/dev/null; then
  python3 -c 'import sys; from pathlib import Path; from ivr.devenv.asterisk import write_hold_music
write_hold_music(Path(sys.argv[1]) / "moh" / "chime.wav")' "$NU_SOUNDS_DIR"
fi
ivr asterisk render --out /etc/asterisk

install -d -o redis -g redis /var/lib/redis
redis-server --bind 127.0.0.1 --port 6379 --dir /var/lib/redis --daemonize no \
  --protected-mode yes --save 60 1 --appendonly no &

install -d -o asterisk -g asterisk /run/asterisk /var/log/asterisk /var/spool/asterisk /var/lib/asterisk
chown -R asterisk:asterisk /var/log/asterisk /var/spool/asterisk /var/lib/asterisk
chmod -R a+rX /etc/asterisk "$NU_SOUNDS_DIR"
asterisk -f -n -U asterisk -G asterisk &
asterisk_pid=$!

install -d -o asterisk -g asterisk "$NU_VAR_DIR/speech"  # RECORD FILE for speech nodes
if [ -n "${NU_SPEECH_MODELS:-}" ]; then
  ivr speech serve &  # models loaded once; speech nodes fall back to operators until it answers
fi

ivr serve &
service_pid=$!

# Live queue state for saturation policies and queue events for the KPIs (reconnects by itself).
ivr queues watch --etc /etc/asterisk &
if [ -n "${NU_CALLBACK_DIAL:-}" ]; then
  ivr callbacks run --etc /etc/asterisk &  # keeps callers' places, calls them back
fi

trap 'kill -TERM "$service_pid" "$asterisk_pid" 2>/dev/null || true' TERM INT
wait -n "$asterisk_pid" "$service_pid"
status=$?
kill -TERM "$service_pid" "$asterisk_pid" 2>/dev/null || true
wait || true
exit "$status"
