#!/usr/bin/env bash
# The two commands of the README:  ./nu up   (run the system)   ./nu test   (run every test).
set -euo pipefail
cd "$(dirname "$0")"
# Python keeps each module's compiled bytecode (__pycache__): a machine or CI image that sets
# PYTHONDONTWRITEBYTECODE makes every ivr process and test worker compile the whole project from
# source again (measured: twice the CPU of importing the admin and the FastAGI service).
unset PYTHONDONTWRITEBYTECODE
case "${1:-}" in
  up)
    scripts/bootstrap.sh
    exec .venv/bin/ivr up ;;
  test)
    scripts/bootstrap.sh
    shift
    .venv/bin/ruff check ivr booking tests bench
    # Test files run in parallel (pytest-xdist, one file per worker at a time: module fixtures
    # stay whole). Most real-Asterisk tests wait on audio, not on the CPU. NU_TEST_WORKERS=0: serial.
    # Files are handed out in collection order: tests/conftest.py puts the longest first.
    exec .venv/bin/python -m pytest -n "${NU_TEST_WORKERS:-3}" --dist loadfile \
      --no-loadscope-reorder "$@" ;;
  *)
    echo "usage: ./nu up | ./nu test [pytest args]" >&2
    exit 2 ;;
esac
