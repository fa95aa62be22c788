#!/usr/bin/env bash
# `make test`: every tier, in two pytest runs at once. The KIND tier spends most of its
# time waiting (pods starting, KEDA's polling, 15 s activities), so it runs beside the
# other tiers instead of after them. Its output goes to a log, printed when both are done.
# Usage: hack/test-tiers.sh ARTIFACTS PYTEST_COMMAND...; exits non-zero if either run failed.
set -uo pipefail
artifacts=${1:?usage: test-tiers.sh ARTIFACTS PYTEST_COMMAND...}
shift
mkdir -p "$artifacts"
log="$artifacts/pytest-kind.log"
echo "test-tiers: the kind tier runs beside the other tiers; its output: $log"
# Job control while starting it: otherwise a background job ignores SIGINT, and pytest
# would not stop (and clean up) on the Ctrl-C forwarded below.
set -m
"$@" -m kind --junitxml="$artifacts/junit-kind.xml" >"$log" 2>&1 &
kind=$!
set +m
# Ctrl-C or CI's stop reaches both runs, so each still cleans up what it started.
trap 'kill -INT "$kind" 2>/dev/null; wait "$kind"; exit 130' INT TERM
"$@" -m "not kind" --junitxml="$artifacts/junit.xml"
others=$?
wait "$kind"
kind_status=$?
echo "---- kind tier ($log) ----"
cat "$log"
echo "test-tiers: other tiers exited $others, the kind tier $kind_status"
[ "$others" -eq 0 ] && [ "$kind_status" -eq 0 ]
