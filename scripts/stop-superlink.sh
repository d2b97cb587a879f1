#!/usr/bin/env bash
# Stops the background SuperLink (and its SuperExec) that `flwr run` started for this FLWR_HOME.
set -u
source "$(dirname "$0")/flwr-env.sh"
pids=$(pgrep -f "flower-superlink.*--database $FLWR_HOME/" || true)
if [ -z "$pids" ]; then
    echo "no background SuperLink for FLWR_HOME=$FLWR_HOME"
    exit 0
fi
for pid in $pids; do
    children=$(pgrep -f "flower-superexec.*--parent-pid $pid" || true)
    kill $pid $children 2>/dev/null && echo "stopped SuperLink $pid ${children:+(SuperExec $children)}"
done
