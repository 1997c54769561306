#!/usr/bin/env bash
# Container start: prompts, configuration, then the platform (Redis, Asterisk) and every process
# of ivr/processes.py the settings give work to, through `ivr services run` — the same list
# `ivr up` and the systemd units start. If Asterisk or the services stop, the container stops
# (tini reaps and forwards signals).
set -euo pipefail

ivr prompts build
ivr asterisk render --out "$NU_ASTERISK_ETC"

install -d -o redis -g redis /var/lib/redis
redis-server --bind 127.0.0.1 --port 6379 --dir /var/lib/redis --daemonize no \
  --protected-mode yes --save 60 1 --appendonly no --logfile "" &

install -d -o asterisk -g asterisk /run/asterisk "$NU_ASTERISK_LOG_DIR" /var/spool/asterisk \
  /var/lib/asterisk "$NU_VAR_DIR/speech"  # the speech spool: Asterisk records, we read
chown -R asterisk:asterisk "$NU_ASTERISK_LOG_DIR" /var/spool/asterisk /var/lib/asterisk
chgrp -R asterisk "$NU_ASTERISK_ETC" && chmod -R g+rX,o-rwx "$NU_ASTERISK_ETC"  # secrets
chmod -R a+rX "$NU_SOUNDS_DIR"
asterisk -f -n -U asterisk -G asterisk &
asterisk_pid=$!

ivr services list
ivr services run &
services_pid=$!

trap 'kill -TERM "$services_pid" "$asterisk_pid" 2>/dev/null || true' TERM INT
wait -n "$asterisk_pid" "$services_pid"
status=$?
kill -TERM "$services_pid" "$asterisk_pid" 2>/dev/null || true
wait || true
exit "$status"
