# Numero Unico in one container: Asterisk 22 (Debian sid has it), Redis, and every process of
# ivr/processes.py the settings give work to (`ivr services run`: the list `ivr up` starts too).
#
#   docker build -t numero-unico .
#   docker run --rm -it numero-unico                   # answers the city number on loopback SIP
#   docker run --rm -it -v $PWD/mycity.yaml:/city.yaml -e NU_DIALPLAN=/city.yaml numero-unico
#   speech: -v /opt/vosk:/opt/vosk:ro -e NU_SPEECH_MODELS=it=/opt/vosk/it,en=/opt/vosk/en
#   callbacks: -e NU_CALLBACK_DIAL='PJSIP/{number}@trunk' (an outbound trunk in pjsip.conf)
#   confirmations: -e NU_SMTP_HOST=relay.example -e NU_SMS_GATEWAY_URL=https://...
#   admin web: on 127.0.0.1:8080 inside; -e NU_ADMIN_HOST=0.0.0.0 -p 8080:8080 only behind a
#     TLS reverse proxy (docs/production.md)
#
# Asterisk says dates and times in the container's local time (/etc/localtime, set to the
# example city's Europe/Rome below; Asterisk ignores TZ): bind-mount another zone if needed.
# Asterisk runs natively here (no chroot): it reads the rendered configuration from
# /etc/asterisk and the prompts straight from NU_SOUNDS_DIR (= NU_ASTERISK_SOUNDS_DIR).
# SIP is bound to 127.0.0.1 by asterisk-conf/pjsip.conf on purpose: put an SBC in the same
# network namespace, or change `bind` there deliberately before exposing 5060/udp.
FROM debian:sid-slim

ARG DEBIAN_FRONTEND=noninteractive
# Only our configuration goes in /etc/asterisk: the package's samples would be read too
# (users.conf, ...), so they are moved aside, keeping the Debian asterisk.conf.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      asterisk \
      asterisk-core-sounds-en asterisk-core-sounds-en-wav \
      asterisk-core-sounds-it asterisk-core-sounds-it-wav \
      asterisk-core-sounds-fr asterisk-core-sounds-fr-wav \
      asterisk-core-sounds-es asterisk-core-sounds-es-wav \
      espeak-ng sox redis-server logrotate \
      python3 python3-venv ca-certificates tini tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && ln -sf /usr/share/zoneinfo/Europe/Rome /etc/localtime \
 && mkdir /usr/share/asterisk/conf-samples \
 && mv /etc/asterisk/* /usr/share/asterisk/conf-samples/ \
 && cp /usr/share/asterisk/conf-samples/asterisk.conf /etc/asterisk/

WORKDIR /opt/numero-unico
COPY . .
# Editable on purpose: the embedded defaults (ivr/config.py) point into the source tree for
# dialplans/, prompts/ and asterisk-conf/, which a plain wheel would not carry.
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/venv/bin/pip install --no-cache-dir -e . \
 && chmod +x scripts/docker-entrypoint.sh

ENV PATH=/opt/venv/bin:$PATH \
    NU_VAR_DIR=/var/lib/numero-unico \
    NU_SOUNDS_DIR=/var/lib/numero-unico/sounds \
    NU_ASTERISK_SOUNDS_DIR=/var/lib/numero-unico/sounds \
    NU_AGI_HOST=127.0.0.1 \
    NU_AGI_PORT=4573 \
    NU_REDIS_URL=redis://127.0.0.1:6379/0 \
    NU_ASTERISK_ETC=/etc/asterisk \
    NU_ASTERISK_LOG_DIR=/var/log/asterisk

# Prompts are synthesised once here for a fast first start; at start-up only what changed
# (another dialplan, edited texts) is redone. The Asterisk configuration is rendered at start-up
# only, so each container gets its own AMI secret and operator password (none in the image).
RUN ivr prompts build

VOLUME ["/var/lib/numero-unico"]
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/numero-unico/scripts/docker-entrypoint.sh"]
